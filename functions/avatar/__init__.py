"""avatar: deterministic PNG avatars (github-style and identicon), rendered once and kept in S3."""
