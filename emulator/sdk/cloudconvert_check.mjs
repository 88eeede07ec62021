// CloudConvert's official Node SDK (cloudconvert 3.0.0 from npm), unchanged, against the
// emulator. The SDK has no endpoint option: its public `callWithBase`, through which every call
// passes, is wrapped to swap the vendor's bases for the emulator's (the reference's advice).
// Prints `ok NAME` or `FAILED NAME: why` per check.
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { createRequire } from 'node:module';

// NODE_SDK_DIR: where `npm install --prefix` put the SDK (it holds node_modules/cloudconvert).
const require = createRequire(path.join(process.env.NODE_SDK_DIR, 'index.js'));
const CloudConvert = require('cloudconvert');

const api = `${process.env.CC_ROOT}/v2/`;
const sync = `${process.env.CC_ROOT}/sync/v2/`;
const photo = path.join(process.env.SAMPLES, 'photo.png');
const secret = process.env.WEBHOOK_SECRET;

const cc = new CloudConvert(process.env.CC_KEY);
const original = cc.callWithBase.bind(cc);
cc.callWithBase = (baseURL, ...rest) =>
  original(
    baseURL
      .replace('https://api.cloudconvert.com/v2/', api)
      .replace('https://sync.api.cloudconvert.com/v2/', sync),
    ...rest
  );

const hooks = [];
const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', c => chunks.push(c));
  req.on('end', () => {
    hooks.push({ signature: req.headers['cloudconvert-signature'], body: Buffer.concat(chunks).toString() });
    res.end('ok');
  });
});
await new Promise(r => server.listen(0, '127.0.0.1', r));
const hook = `http://127.0.0.1:${server.address().port}/hook`;

const results = [];
async function check(name, fn) {
  try {
    await fn();
    results.push([name, null]);
  } catch (e) {
    results.push([name, String(e && e.stack ? e.stack.split('\n')[0] : e)]);
  }
}
const assert = (cond, what) => { if (!cond) throw new Error(what); };

let jobId;
await check('cloudconvert Node SDK: create a job graph, upload through the task form, wait, download', async () => {
  const job = await cc.jobs.create({
    tag: 'node-sdk-check',
    webhook_url: hook,
    tasks: {
      'import-it': { operation: 'import/upload' },
      'convert-it': { operation: 'convert', input: 'import-it', output_format: 'jpg' },
      'export-it': { operation: 'export/url', input: 'convert-it' }
    }
  });
  jobId = job.id;
  const upload = job.tasks.find(t => t.name === 'import-it');
  await cc.tasks.upload(upload, fs.createReadStream(photo), 'photo.png', fs.statSync(photo).size);
  const done = await cc.jobs.wait(job.id);
  assert(done.status === 'finished', `status ${done.status}`);
  const [file] = cc.jobs.getExportUrls(done);
  const res = await fetch(file.url);
  assert(res.ok, `download ${res.status}`);
  const bytes = Buffer.from(await res.arrayBuffer());
  assert(bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff, 'not a JPEG');
});

await check('cloudconvert Node SDK: get a job, wait for a task, list by status', async () => {
  const job = await cc.jobs.get(jobId, { include: 'tasks' });
  assert(job.tasks.length === 3, `${job.tasks.length} tasks`);
  const task = await cc.tasks.wait(job.tasks[2].id);
  assert(task.status === 'finished', `task ${task.status}`);
  const listed = await cc.jobs.all({ 'filter[status]': 'finished' });
  assert(listed.some(j => j.id === jobId), 'the job is not listed');
});

await check('cloudconvert Node SDK: the webhook verifies with the SDK\'s own verifier', async () => {
  for (let i = 0; i < 100 && hooks.length === 0; i++) await new Promise(r => setTimeout(r, 50));
  assert(hooks.length > 0, 'no webhook arrived');
  const { signature, body } = hooks[0];
  assert(cc.webhooks.verify(body, signature, secret), 'the signature does not verify');
  assert(!cc.webhooks.verify(body, signature, 'another-secret'), 'a wrong secret verifies');
});

await check('cloudconvert Node SDK: delete the job, then it is gone', async () => {
  await cc.jobs.delete(jobId);
  let gone = false;
  try {
    await cc.jobs.get(jobId);
  } catch (e) {
    gone = e.cause && e.cause.status === 404;
  }
  assert(gone, 'the job is still there');
});

server.close();
for (const [name, failure] of results) console.log(failure === null ? `ok ${name}` : `FAILED ${name}: ${failure}`);
process.exit(results.some(([, f]) => f !== null) ? 1 : 0);
