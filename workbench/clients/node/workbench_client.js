#!/usr/bin/env node
// Workbench from Node.js over zerorpc: upload files, run a work request on each, consume a batch stream.
//
//   node workbench_client.js [--server HOST] [--port PORT] [--worker meta] [--batch-size N] FILE...
//
// Prints one JSON document: {uploads: [{path, md5}], work: [{md5, WORKER: output}], batch: [results]}.
// Exit code 0 on success; 2 for bad usage; 3 when no server answers; 1 for any other error.
"use strict";

const fs = require("fs");
const path = require("path");
const zerorpc = require("zerorpc");

class WorkbenchClient {
  // A thin promise-based wrapper; the method names are the server's (store_sample, work_request...).
  constructor(server = "127.0.0.1", port = 4242, timeout = 120) {
    this.endpoint = `tcp://${server}:${port}`;
    this.client = new zerorpc.Client({ timeout, heartbeatInterval: 5000 });
    this.client.connect(this.endpoint);
  }

  call(method, ...args) {
    // One request, one answer.
    return new Promise((resolve, reject) => {
      this.client.invoke(method, ...args, (error, result) => (error ? reject(error) : resolve(result)));
    });
  }

  stream(method, ...args) {
    // A streamed answer as an array; messages that are lists (batch_size > 1) are flattened.
    return new Promise((resolve, reject) => {
      const items = [];
      this.client.invoke(method, ...args, (error, result, more) => {
        if (error) return reject(error);
        if (result !== undefined) Array.isArray(result) ? items.push(...result) : items.push(result);
        if (!more) resolve(items);
      });
    });
  }

  async uploadFile(file) {
    // Asks has_sample first, so known bytes are never sent again.
    const bytes = fs.readFileSync(file);
    const md5 = require("crypto").createHash("md5").update(bytes).digest("hex");
    if (await this.call("has_sample", md5)) return md5;
    return this.call("store_sample", bytes, path.basename(file), "");
  }

  close() {
    this.client.close();
  }
}

function parseArgs(argv) {
  const options = { server: "127.0.0.1", port: 4242, worker: "meta", batchSize: 10, files: [] };
  for (let i = 0; i < argv.length; i++) {
    const name = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) throw new Error(`${name} needs a value`);
      return argv[++i];
    };
    if (name === "--server" || name === "-s") options.server = value();
    else if (name === "--port" || name === "-p") options.port = Number(value());
    else if (name === "--worker") options.worker = value();
    else if (name === "--batch-size") options.batchSize = Number(value());
    else if (name.startsWith("-")) throw new Error(`unknown option ${name}`);
    else options.files.push(name);
  }
  if (!options.files.length) throw new Error("give at least one FILE to upload");
  return options;
}

async function main(argv) {
  let options;
  try {
    options = parseArgs(argv);
  } catch (error) {
    console.error(`usage: node workbench_client.js [--server HOST] [--port PORT] [--worker W] FILE...\nerror: ${error.message}`);
    return 2;
  }
  const probe = new WorkbenchClient(options.server, options.port, 5);  // a quick answer, or a clear error
  try {
    await probe.call("version");
  } catch (error) {
    console.error(`error: no Workbench server answered at ${probe.endpoint} (${error.name || error.message})`);
    return 3;
  } finally {
    probe.close();
  }
  const workbench = new WorkbenchClient(options.server, options.port, 120);
  try {
    const uploads = [];
    for (const file of options.files) uploads.push({ path: file, md5: await workbench.uploadFile(file) });
    const work = [];
    for (const { md5 } of uploads) work.push(await workbench.call("work_request", options.worker, md5));
    const md5List = uploads.map((u) => u.md5);
    const batch = await workbench.stream("batch_work_request", options.worker,
      { md5_list: md5List, batch_size: options.batchSize });
    process.stdout.write(JSON.stringify({ uploads, work, batch }, null, 2) + "\n");
    return 0;
  } catch (error) {
    console.error(`error: ${error.name || "Error"}: ${error.message}`);
    return 1;
  } finally {
    workbench.close();
  }
}

module.exports = { WorkbenchClient };

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => process.exit(code));
}
