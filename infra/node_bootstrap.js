// A Node.js function's sandbox: Lambda's runtime loop over the Runtime API (AWS_LAMBDA_RUNTIME_API), as AWS's
// Node.js runtime runs a handler: GET the next invocation, call the handler with the event and a context, POST its
// answer or its error. Started by infra/node_sandbox.py, one process per sandbox, one invocation at a time.
"use strict";

const http = require("http");
const path = require("path");
const fs = require("fs");
const { pathToFileURL } = require("url");
const util = require("util");

// console lines as Lambda's Node.js runtime writes them: time, request id, level, message
let requestId;
for (const [method, level] of [["log", "INFO"], ["info", "INFO"], ["warn", "WARN"], ["error", "ERROR"],
                               ["debug", "DEBUG"], ["trace", "TRACE"]]) {
  console[method] = (...args) => {
    process.stdout.write(`${new Date().toISOString()}\t${requestId}\t${level}\t${util.format(...args)}\n`);
  };
}

const [apiHost, apiPort] = process.env.AWS_LAMBDA_RUNTIME_API.split(":");
const BASE = "/2018-06-01/runtime";

function call(method, route, body) {
  return new Promise((resolve, reject) => {
    const headers = body === undefined ? {} : { "Content-Type": "application/json",
                                                "Content-Length": Buffer.byteLength(body) };
    const request = http.request({ host: apiHost, port: Number(apiPort), path: BASE + route, method, headers },
      (response) => {
        const chunks = [];
        response.on("data", (chunk) => chunks.push(chunk));
        response.on("end", () => resolve({ headers: response.headers, body: Buffer.concat(chunks).toString() }));
      });
    request.on("error", reject);
    if (body !== undefined) request.write(body);
    request.end();
  });
}

function errorPayload(error) {
  const failure = error instanceof Error ? error : new Error(String(error));
  return JSON.stringify({ errorType: failure.name || "Error", errorMessage: failure.message,
                          trace: String(failure.stack || "").split("\n") });
}

async function loadHandler() {
  const handler = process.env._HANDLER;
  const dot = handler.lastIndexOf(".");
  const modulePath = path.resolve(process.env.LAMBDA_TASK_ROOT, handler.slice(0, dot));
  const name = handler.slice(dot + 1);
  let loaded;
  const esm = [".mjs", ".js"].map((ext) => modulePath + ext).find((file) => fs.existsSync(file) &&
    (file.endsWith(".mjs") || isModulePackage(path.dirname(file))));
  if (esm) {
    loaded = await import(pathToFileURL(esm).href);
  } else {
    loaded = require(modulePath);
  }
  const fn = loaded[name] || (loaded.default && loaded.default[name]);
  if (typeof fn !== "function") {
    const missing = new Error(`${path.basename(modulePath)}.${name} is undefined or not exported`);
    missing.name = "Runtime.HandlerNotFound";
    throw missing;
  }
  return fn;
}

function isModulePackage(folder) {
  // a .js file is an ES module when the nearest package.json says "type": "module"
  for (let dir = folder; ; dir = path.dirname(dir)) {
    const manifest = path.join(dir, "package.json");
    if (fs.existsSync(manifest)) {
      try { return JSON.parse(fs.readFileSync(manifest, "utf8")).type === "module"; } catch (_) { return false; }
    }
    if (path.dirname(dir) === dir) return false;
  }
}

function run(handler, event, context) {
  return new Promise((resolve, reject) => {
    const done = (error, value) => (error ? reject(error) : resolve(value));
    context.done = done;
    context.succeed = (value) => resolve(value);
    context.fail = (error) => reject(error);
    try {
      const answer = handler(event, context, done);
      if (answer && typeof answer.then === "function") answer.then(resolve, reject);
      else if (handler.length < 3) resolve(answer);
    } catch (error) {
      reject(error);
    }
  });
}

async function main() {
  let handler;
  try {
    handler = await loadHandler();
  } catch (error) {
    await call("POST", "/init/error", errorPayload(error));
    process.exit(1);
  }
  for (;;) {
    const next = await call("GET", "/invocation/next");
    const id = next.headers["lambda-runtime-aws-request-id"];
    requestId = id;
    const deadline = Number(next.headers["lambda-runtime-deadline-ms"]);
    if (next.headers["lambda-runtime-trace-id"]) process.env._X_AMZN_TRACE_ID = next.headers["lambda-runtime-trace-id"];
    else delete process.env._X_AMZN_TRACE_ID;
    const context = {
      awsRequestId: id,
      invokedFunctionArn: next.headers["lambda-runtime-invoked-function-arn"],
      functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
      functionVersion: process.env.AWS_LAMBDA_FUNCTION_VERSION,
      memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
      logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME,
      logStreamName: process.env.AWS_LAMBDA_LOG_STREAM_NAME,
      callbackWaitsForEmptyEventLoop: true,
      getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    };
    let outcome;
    // a handler whose promise never settles leaves nothing for the event loop to wait on: without this timer node
    // would exit, where Lambda waits for the function's timeout
    const keepAlive = setInterval(() => {}, 1 << 30);
    try {
      const value = await run(handler, JSON.parse(next.body), context);
      outcome = ["/response", JSON.stringify(value === undefined ? null : value)];
    } catch (error) {
      outcome = ["/error", errorPayload(error)];
    } finally {
      clearInterval(keepAlive);
    }
    // what the invocation printed is all in the pipe before its answer: the sandbox waits for this line
    process.stdout.write(`\u0000notifyx-end ${id}\n`);
    await call("POST", `/invocation/${id}${outcome[0]}`, outcome[1]);
  }
}

main().catch((error) => {
  process.stderr.write(`runtime failure: ${error && error.stack}\n`);
  process.exit(1);
});
