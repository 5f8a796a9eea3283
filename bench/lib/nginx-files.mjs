// Shared by the benches that fetch small FITS files from nginx (bench/peers.mjs, bench/cost.mjs):
// the files, an unprivileged nginx serving them, GNU time around a child, medians.
import { spawn, spawnSync } from "node:child_process";
import { chownSync, mkdirSync, writeFileSync } from "node:fs";
import { Agent, request } from "node:http";
import { createServer as createNetServer } from "node:net";
import { join } from "node:path";
import { encodeImage } from "../../dist/fits/image.js";

/** Debian packages that provide the commands the benches use. */
export const INSTALL = { nginx: "nginx-light", curl: "curl", aria2c: "aria2", "/usr/bin/time": "time" };

/** True when `cmd` is on PATH (or is an executable path). */
export function have(cmd) {
  return spawnSync("sh", ["-c", `command -v ${cmd}`], { stdio: "ignore" }).status === 0;
}

/** Say that `what` is skipped because `cmd` is missing, and how to install it. */
export function missing(cmd, what) {
  console.log(`\n(${what} skipped: ${cmd} not found; install it with \`apt-get install ${INSTALL[cmd]}\`)`);
}

/**
 * Write `n` FITS files `o{i}.fits` (28x28 float32, 8,640 bytes, a distinct image each so a byte
 * comparison means something) into `www`; returns the catalog lines (`id,ra,dec` header first).
 */
export function makeFitsFiles(www, n) {
  mkdirSync(www, { recursive: true });
  const lines = ["id,ra,dec"];
  for (let i = 0; i < n; i++) {
    const data = new Float32Array(28 * 28);
    for (let p = 0; p < data.length; p++) data[p] = Math.sin(i * 0.37 + p * 0.011) * 100;
    const body = encodeImage({
      bitpix: -32,
      shape: [28, 28],
      data,
      cards: [{ key: "OBJECT", value: `o${i}` }],
    });
    writeFileSync(join(www, `o${i}.fits`), body);
    lines.push(`o${i},${(10 + i * 1e-4).toFixed(5)},${(-5 + i * 1e-4).toFixed(5)}`);
  }
  return lines;
}

function freePort() {
  return new Promise((res, rej) => {
    const s = createNetServer();
    s.on("error", rej);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });
}

/** One GET with node:http; resolves to { status, body }. */
export function httpGet(url, agent) {
  return new Promise((res, rej) => {
    const req = request(url, { agent }, (r) => {
      const chunks = [];
      r.on("data", (c) => chunks.push(c));
      r.on("end", () => res({ status: r.statusCode, body: Buffer.concat(chunks) }));
      r.on("error", rej);
    });
    req.on("error", rej);
    req.end();
  });
}

/**
 * Start nginx as an unprivileged process (temp config under `work`, a free port on 127.0.0.1) serving
 * `www`, which must hold `o0.fits`; resolves to { port, stop }.
 */
export async function startNginx(work, www) {
  const prefix = join(work, "nginx");
  mkdirSync(join(prefix, "tmp"), { recursive: true });
  const port = await freePort();
  const tmp = (n) => `${n}_temp_path ${join(prefix, "tmp", n)};`;
  const conf = join(prefix, "nginx.conf");
  writeFileSync(
    conf,
    `worker_processes 1;
pid ${join(prefix, "nginx.pid")};
error_log ${join(prefix, "error.log")} warn;
events { worker_connections 1024; }
http {
  access_log off;
  ${["client_body", "proxy", "fastcgi", "uwsgi", "scgi"].map(tmp).join("\n  ")}
  types { application/fits fits; }
  default_type application/octet-stream;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  keepalive_timeout 60s;
  server {
    listen 127.0.0.1:${port};
    root ${www};
    location / { }
  }
}
`,
  );
  // As root, run the whole of nginx as nobody rather than a root master process.
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    for (const p of [prefix, join(prefix, "tmp")]) chownSync(p, 65534, 65534);
  }
  const child = spawn("nginx", ["-c", conf, "-p", prefix, "-g", "daemon off;"], {
    stdio: ["ignore", "ignore", "pipe"],
    ...(asRoot ? { uid: 65534, gid: 65534 } : {}),
  });
  let err = "";
  child.stderr.on("data", (d) => (err += d));
  const exited = new Promise((r) => child.on("exit", r));
  const agent = new Agent({ keepAlive: false });
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) throw new Error(`nginx exited ${child.exitCode}: ${err}`);
    try {
      const r = await httpGet(`http://127.0.0.1:${port}/o0.fits`, agent);
      if (r.status === 200) break;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    port,
    stop: async () => {
      child.kill("SIGQUIT");
      await exited;
    },
  };
}

/** Run argv under GNU time; wall s, user+sys CPU s, peak RSS MB, and the child's own stderr. */
export function timed(argv, options = {}) {
  return new Promise((res, rej) => {
    const child = spawn("/usr/bin/time", ["-f", "TIME %e %U %S %M", ...argv], {
      stdio: ["ignore", "ignore", "pipe"],
      ...options,
    });
    let err = "";
    child.stderr.on("data", (d) => (err += d));
    child.on("close", (code) => {
      const m = /TIME ([\d.]+) ([\d.]+) ([\d.]+) (\d+)\s*$/.exec(err);
      if (!m) return rej(new Error(`no timing (exit ${code}): ${err.slice(-2000)}`));
      res({
        code,
        wall: Number(m[1]),
        user: Number(m[2]),
        sys: Number(m[3]),
        cpu: Number(m[2]) + Number(m[3]),
        rssMb: Number(m[4]) / 1024,
        stderr: err.slice(0, m.index),
      });
    });
  });
}

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** curl --parallel fetching every `url = "..."` line of the config file `cfg` into `out`, `c` at a time. */
export function curlArgv(cfg, out, c, extra = []) {
  return [
    "curl",
    "--parallel",
    "--parallel-max",
    String(c),
    "--remote-name-all",
    "--output-dir",
    out,
    "--create-dirs",
    "--fail",
    "--silent",
    ...extra,
    "--config",
    cfg,
  ];
}

/** aria2c fetching every URL listed in the file `list` into `out`, `c` at a time. */
export function aria2Argv(list, out, c, extra = []) {
  return [
    "aria2c",
    "-j",
    String(c),
    "-i",
    list,
    "-d",
    out,
    "--quiet=true",
    "--allow-overwrite=true",
    "--auto-file-renaming=false",
    "--file-allocation=none",
    ...extra,
  ];
}
