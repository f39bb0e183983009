// A Node.js function's sandbox: Lambda's runtime loop over the Runtime API (AWS_LAMBDA_RUNTIME_API), as AWS's
// Node.js runtime runs a handler: GET the next invocation, call the handler with the event and a context, POST its
// answer or its error. Started by infra/node_sandbox.py, one process per sandbox, one invocation at a time.
//
// Response streaming as AWS's runtime (aws-lambda-nodejs-runtime-interface-client) offers it: the global
// `awslambda.streamifyResponse(handler)` marks a handler that gets a writable response stream; its bytes go to the
// Runtime API as they are written (a chunked POST with Lambda-Runtime-Function-Response-Mode: streaming), an error
// after the first byte as the trailers Lambda-Runtime-Function-Error-Type / -Body. `awslambda.HttpResponseStream
// .from(stream, {statusCode, headers, cookies})` puts the function URL's JSON prelude and 8 NUL bytes first.
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

const STREAMING = Symbol.for("aws.lambda.runtime.handler.streaming");
const HIGH_WATER_MARK = Symbol.for("aws.lambda.runtime.handler.streaming.highWaterMark");
const PRELUDE_TYPE = "application/vnd.awslambda.http-integration-response";

globalThis.awslambda = {
  streamifyResponse(handler, options) {
    handler[STREAMING] = "response";
    if (options && options.highWaterMark) handler[HIGH_WATER_MARK] = parseInt(options.highWaterMark, 10);
    return handler;
  },
  HttpResponseStream: class HttpResponseStream {
    static from(stream, prelude) {
      stream.setContentType(PRELUDE_TYPE);
      const metadata = JSON.stringify(prelude);  // JSON: no NUL byte can end the prelude early
      stream._onBeforeFirstWrite = (write) => {
        write(metadata);
        write(new Uint8Array(8));
      };
      return stream;
    }
  },
};

// The response stream of one invocation: a chunked POST to the Runtime API, opened by the first write (or the end)
function responseStream(id) {
  let started = false;
  const request = http.request({
    host: apiHost, port: Number(apiPort), path: `${BASE}/invocation/${id}/response`, method: "POST",
    headers: { "Lambda-Runtime-Function-Response-Mode": "streaming", "Content-Type": "application/octet-stream",
               "Transfer-Encoding": "chunked",
               Trailer: "Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body" },
  });
  const answered = new Promise((resolve, reject) => {
    request.on("response", (response) => { response.resume(); response.on("end", resolve); });
    request.on("error", reject);
  });
  const write = request.write.bind(request);
  request.setContentType = (type) => {
    if (started) throw new Error("Cannot set content-type, too late.");
    request.setHeader("Content-Type", type);
  };
  request.write = (chunk, encoding, callback) => {
    if (typeof chunk !== "string" && !Buffer.isBuffer(chunk) && !(chunk instanceof Uint8Array)) {
      chunk = JSON.stringify(chunk);
    }
    if (!started && typeof request._onBeforeFirstWrite === "function") request._onBeforeFirstWrite(write);
    started = true;
    return write(chunk, encoding, callback);
  };
  const end = request.end.bind(request);
  request.end = (chunk, encoding, callback) => {
    if (typeof chunk === "function") return end(chunk);
    if (chunk !== undefined && chunk !== null) request.write(chunk, encoding);
    else if (!started && typeof request._onBeforeFirstWrite === "function") {
      request._onBeforeFirstWrite(write);  // an empty body still begins with the prelude
      started = true;
    }
    return end(typeof encoding === "function" ? encoding : callback);
  };
  const fail = (error) => {
    const payload = errorPayload(error);
    if (request.writableEnded) {  // the stream was already closed: the error can only be logged
      process.stdout.write(`${new Date().toISOString()}\t${id}\tERROR\tInvoke Error \t${payload}\n`);
      return;
    }
    request.addTrailers({ "Lambda-Runtime-Function-Error-Type": JSON.parse(payload).errorType,
                          "Lambda-Runtime-Function-Error-Body": Buffer.from(payload).toString("base64") });
    end();
  };
  return { request, answered, fail };
}

async function runStreaming(handler, event, context, id) {
  const { request, answered, fail } = responseStream(id);
  try {
    const answer = handler(event, request, context);
    if (!answer || typeof answer.then !== "function") {
      throw new Error("Streaming does not support non-async handlers.");
    }
    await answer;
    if (!request.writableFinished && !request.writableEnded) throw new Error("Response stream is not finished.");
  } catch (error) {
    fail(error);
  }
  await answered.catch(() => {});
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
    if (next.headers["lambda-runtime-aws-tenant-id"]) context.tenantId = next.headers["lambda-runtime-aws-tenant-id"];
    let outcome;
    // a handler whose promise never settles leaves nothing for the event loop to wait on: without this timer node
    // would exit, where Lambda waits for the function's timeout
    const keepAlive = setInterval(() => {}, 1 << 30);
    if (handler[STREAMING] === "response") {
      try {
        await runStreaming(handler, JSON.parse(next.body), context, id);
      } finally {
        clearInterval(keepAlive);
      }
      process.stdout.write(`\u0000notifyx-end ${id}\n`);
      continue;
    }
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
