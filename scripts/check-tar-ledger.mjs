#!/usr/bin/env node
// Checks a --store tar job against its ledger, fast and without Python (issue 12; the astropy and
// fitsverify check of every member is scripts/check-tar-members.py):
//   - every tar file in OUT/tar is a whole archive: a run of ustar members (pax headers included), each
//     complete, then the end-of-archive blocks or the end of the file; nothing partial;
//   - no member name occurs twice across all the tar files;
//   - every done task of the ledger names a tar file and an offset where a member of its recorded length
//     starts whose bytes hash to its recorded SHA-256, and every member is one of those tasks.
// Usage: node scripts/check-tar-ledger.mjs OUT [--ledger FILE]; prints a summary, exits 1 on a problem.
import { createHash } from "node:crypto";
import { closeSync, openSync, readdirSync, readSync, statSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import Database from "better-sqlite3";

const { values, positionals } = parseArgs({
  options: { ledger: { type: "string" } },
  allowPositionals: true,
});
if (positionals.length !== 1) {
  console.error("usage: node scripts/check-tar-ledger.mjs OUT [--ledger FILE]");
  process.exit(2);
}
const out = positionals[0];
const tarDir = join(out, "tar");
const problems = [];
const problem = (msg) => {
  if (problems.length < 20) console.error(`problem: ${msg}`);
  problems.push(msg);
};

function readAt(fd, offset, length) {
  const buf = Buffer.alloc(length);
  let got = 0;
  while (got < length) {
    const n = readSync(fd, buf, got, length - got, offset + got);
    if (n === 0) break;
    got += n;
  }
  return buf.subarray(0, got);
}

const field = (h, start, len) => {
  const s = h.subarray(start, start + len);
  const z = s.indexOf(0);
  return (z < 0 ? s : s.subarray(0, z)).toString("utf8");
};
const octal = (h, start, len) => Number.parseInt(field(h, start, len).trim() || "0", 8);

/** The members of one tar file: name -> { offset of its data, size }; reports anything not whole. */
function members(file) {
  const fd = openSync(file, "r");
  const size = statSync(file).size;
  const found = [];
  let pos = 0;
  let paxPath;
  try {
    while (pos + 512 <= size) {
      const h = readAt(fd, pos, 512);
      if (h.every((b) => b === 0)) return found; // end-of-archive
      let sum = 0;
      for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : h[i];
      if (sum !== octal(h, 148, 8)) {
        problem(`${file}: bad header checksum at ${pos}`);
        return found;
      }
      const type = String.fromCharCode(h[156] || 48);
      const len = octal(h, 124, 12);
      const data = pos + 512;
      if (data + len > size) {
        problem(`${file}: member at ${pos} is cut (needs ${len} bytes, ${size - data} left)`);
        return found;
      }
      if (type === "x") {
        const m = /\d+ path=([^\n]*)\n/.exec(readAt(fd, data, len).toString("utf8"));
        paxPath = m?.[1];
      } else {
        const prefix = field(h, 345, 155);
        const name = paxPath ?? (prefix === "" ? field(h, 0, 100) : `${prefix}/${field(h, 0, 100)}`);
        found.push({ name, offset: data, size: len });
        paxPath = undefined;
      }
      pos = data + Math.ceil(len / 512) * 512;
    }
    if (pos !== size) problem(`${file}: ${size - pos} stray bytes at the end`);
    return found;
  } finally {
    closeSync(fd);
  }
}

const tarFiles = readdirSync(tarDir)
  .filter((f) => f.endsWith(".tar"))
  .sort();
const byName = new Map();
const byPlace = new Map();
for (const f of tarFiles) {
  for (const m of members(join(tarDir, f))) {
    if (byName.has(m.name)) problem(`member ${m.name} is in ${byName.get(m.name)} and ${f}`);
    byName.set(m.name, f);
    byPlace.set(`${f}:${m.offset}`, m);
  }
}

const db = new Database(values.ledger ?? join(out, "vocut.db"), { readonly: true, fileMustExist: true });
const done = db
  .prepare("SELECT seq, bytes, sha256, tar_shard, tar_offset FROM task WHERE state = 'done'")
  .all();
db.close();
const fds = new Map();
let hashed = 0;
for (const t of done) {
  if (t.tar_shard === null) {
    problem(`task ${t.seq} is done but names no tar file`);
    continue;
  }
  const m = byPlace.get(`${t.tar_shard}:${t.tar_offset}`);
  if (m === undefined) {
    problem(`task ${t.seq}: no member starts at ${t.tar_shard}:${t.tar_offset}`);
    continue;
  }
  if (m.size !== t.bytes) problem(`task ${t.seq}: member ${m.name} has ${m.size} bytes, ledger ${t.bytes}`);
  byPlace.delete(`${t.tar_shard}:${t.tar_offset}`);
  let fd = fds.get(t.tar_shard);
  if (fd === undefined) {
    fd = openSync(join(tarDir, t.tar_shard), "r");
    fds.set(t.tar_shard, fd);
  }
  const sha = createHash("sha256")
    .update(readAt(fd, t.tar_offset, t.bytes))
    .digest("hex");
  if (sha !== t.sha256) problem(`task ${t.seq}: member ${m.name} hashes to ${sha}, ledger ${t.sha256}`);
  hashed++;
}
for (const fd of fds.values()) closeSync(fd);
for (const m of byPlace.values()) problem(`member ${m.name} is in no done task of the ledger`);

console.log(
  `${tarFiles.length} tar file(s), ${byName.size} member(s), ${done.length} done task(s), ${hashed} sha256 equal; ${problems.length} problem(s)`,
);
process.exit(problems.length === 0 ? 0 : 1);
