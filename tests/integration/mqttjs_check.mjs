// MQTT.js (npm mqtt) under node against the broker: node mqttjs_check.mjs URL [CAFILE]
// Subscribes to js/#, expects the retained js/retained, publishes QoS 0, 1 and 2 to itself
// and a 100 KB message; prints one JSON line {"connack":..., "got":[[topic, payload],...]}.
// MQTT_NODE_MODULES: the node_modules folder that holds mqtt (tools/test.sh: .venv/node).
import { createRequire } from "module";
import fs from "fs";

const require = createRequire(process.env.MQTT_NODE_MODULES + "/");
const mqtt = require("mqtt");
const [url, ca] = process.argv.slice(2);
const opts = { protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 5000,
  clientId: "mqttjs-" + process.pid };
if (ca) opts.ca = fs.readFileSync(ca);
const c = mqtt.connect(url, opts);
const got = [];
const big = "b".repeat(100000);
const fail = (why) => { console.log(JSON.stringify({ error: String(why), got })); process.exit(1); };
setTimeout(() => fail("timeout"), 15000);
c.on("error", fail);
c.on("message", (t, p) => {
  got.push([t, t === "js/big" ? String(p.length) : p.toString()]);
  if (got.length === 5) {  // after this turn: MQTT.js emits a QoS 2 message on PUBREL and
    // sends its PUBCOMP after the handler, which must not follow DISCONNECT
    setTimeout(() => c.end(false, () => {
      console.log(JSON.stringify({ connack: 0, got })); process.exit(0); }), 100);
  }
});
c.on("connect", (ack) => {
  c.subscribe("js/#", { qos: 2 }, (err, granted) => {
    if (err) fail(err);
    setTimeout(() => {  // the retained message first
      for (const q of [0, 1, 2]) c.publish("js/self/q" + q, "m" + q, { qos: q });
      c.publish("js/big", big, { qos: 1 });
    }, 200);
  });
});
