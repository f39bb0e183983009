"""The local cloud: template.yaml -> emulator resources, in-process Lambda runtime, data planes, pollers, CLI."""
