// MQTT.js (npm mqtt) with protocol version 5 against a broker: node mqttjs_v5_check.mjs URL CASE
// CASE is one of:
//   alias    a publisher sends js5/alias with Topic Alias 1, then twice with an empty topic
//            and the alias; a subscriber that announced Topic Alias Maximum 10 gets all three
//   shared   two subscribers of $share/g/js5/sh (QoS 1) and 20 QoS 1 messages: each once
//   flow     a subscriber with Receive Maximum 1 (QoS 2) and 20 QoS 2 messages published at
//            once: MQTT.js errors if the broker sends a second before the first is released
//   reqres   request/response: a responder answers to the Response Topic with the request's
//            Correlation Data and user properties, a requester checks them
// Prints one JSON line (connack: the first client's CONNACK properties) and exits 0, or
// {"error": ...} and exits 1. MQTT_NODE_MODULES: the node_modules folder that holds mqtt.
import { createRequire } from "module";

const require = createRequire(process.env.MQTT_NODE_MODULES + "/");
const mqtt = require("mqtt");
const [url, kase] = process.argv.slice(2);
const tag = String(process.pid);
const result = {};
let ending = false;  // the checks passed: errors of the clients' closing do not matter
const fail = (why) => {
  if (ending) return;
  console.log(JSON.stringify({ ...result, error: String(why) }));
  process.exit(1);
};
setTimeout(() => fail("timeout"), 15000);

function client(name, props = {}, extra = {}) {
  return new Promise((resolve) => {
    const c = mqtt.connect(url, { protocolVersion: 5, reconnectPeriod: 0, connectTimeout: 5000,
      clientId: "js5-" + name + "-" + tag, properties: props, ...extra });
    c.on("error", fail);
    c.on("connect", (ack) => {
      if (result.connack === undefined) result.connack = ack.properties || {};
      resolve(c);
    });
  });
}
const subscribe = (c, f, opts) => c.subscribeAsync(f, opts).then((g) => {
  if (g[0].qos !== opts.qos) fail("granted " + JSON.stringify(g));
});
const done = (clients) => {
  ending = true;
  Promise.all(clients.map((c) => c.endAsync()))
    .then(() => { console.log(JSON.stringify(result)); process.exit(0); });
};

async function alias() {
  const topic = "js5/alias/" + tag;
  const sub = await client("sub", { topicAliasMaximum: 10 });
  const got = [];
  result.got = got;
  sub.on("message", (t, p, pkt) => {
    // whether the broker sent an alias of its own (MQTT.js resolves it to the topic)
    got.push([t, p.toString(), pkt.properties?.topicAlias !== undefined]);
    if (got.length === 3) done([sub, pub]);
  });
  await subscribe(sub, topic, { qos: 1 });
  const pub = await client("pub");
  await pub.publishAsync(topic, "m1", { qos: 1, properties: { topicAlias: 1 } });
  await pub.publishAsync("", "m2", { qos: 1, properties: { topicAlias: 1 } });
  await pub.publishAsync("", "m3", { qos: 0, properties: { topicAlias: 1 } });
}

async function shared() {
  const topic = "js5/sh/" + tag;
  const counts = [0, 0];
  const seen = new Set();
  result.counts = counts;
  const subs = [];
  for (const i of [0, 1]) {
    const s = await client("sub" + i);
    s.on("message", (t, p) => {
      counts[i] += 1;
      if (seen.has(p.toString())) fail("delivered twice: " + p);
      seen.add(p.toString());
      if (seen.size === 20) setTimeout(() => done(subs.concat([pub])), 300);
    });
    await subscribe(s, "$share/g/" + topic, { qos: 1 });
    subs.push(s);
  }
  const pub = await client("pub");
  for (let i = 0; i < 20; i++) pub.publish(topic, "m" + i, { qos: 1 });
}

async function flow() {
  const topic = "js5/flow/" + tag;
  const sub = await client("sub", { receiveMaximum: 1 });
  const got = [];
  sub.on("message", (t, p) => {
    got.push(p.toString());
    if (got.length === 20) {
      result.in_order = got.every((m, i) => m === "m" + i);
      result.got = got.length;
      done([sub, pub]);
    }
  });
  await subscribe(sub, topic, { qos: 2 });
  const pub = await client("pub");
  for (let i = 0; i < 20; i++) pub.publish(topic, "m" + i, { qos: 2 });
}

async function reqres() {
  const req = "js5/req/" + tag;
  const resp = "js5/resp/" + tag;
  const responder = await client("responder");
  responder.on("message", (t, p, pkt) => {
    const pr = pkt.properties || {};
    responder.publish(pr.responseTopic, "answer to " + p, { qos: 1, properties: {
      correlationData: pr.correlationData, userProperties: pr.userProperties,
      contentType: pr.contentType } });
  });
  await subscribe(responder, req, { qos: 1 });
  const requester = await client("requester");
  requester.on("message", (t, p, pkt) => {
    const pr = pkt.properties || {};
    Object.assign(result, { topic: t, payload: p.toString(),
      correlation: pr.correlationData ? pr.correlationData.toString("hex") : null,
      userProperties: pr.userProperties || null, contentType: pr.contentType || null });
    done([responder, requester]);
  });
  await subscribe(requester, resp, { qos: 1 });
  requester.publish(req, "question", { qos: 1, properties: { responseTopic: resp,
    correlationData: Buffer.from([0, 1, 2, 255]), contentType: "text/plain",
    userProperties: { b: "2", a: ["1", "3"] } } });
}

const cases = { alias, shared, flow, reqres };
if (!cases[kase]) fail("unknown case " + kase);
cases[kase]().catch(fail);
