#!/usr/bin/env bash
# Check `vocut obscore` against a real DaCHS 2.7 TAP service (issue 13, first "Done when" item).
#
# Installs DaCHS from Debian (gavodachs2-server) if missing, starts PostgreSQL 15 and DaCHS on
# 127.0.0.1:$DACHS_PORT (default 8097), publishes fixtures/dachs (eight small FITS images made by
# fixtures/dachs/make_fits.py, RD q.rd with //obscore#publishSIAP) and runs checks a-e with the built
# CLI (run `npm run build` first). Prints one PASS/FAIL line per check with its figures; exit 1 on a FAIL.
#   a  --async downloads every product byte-exact (sha256 against the published files)
#   b  vocut SIGKILLed while the UWS job EXECUTES: `vocut status` shows the job (exit 5), the rerun
#      resumes the same job; DaCHS's web.log shows exactly one POST /tap/async
#   c  a rerun after completion sends DaCHS no request at all (web.log)
#   d  --describe and --dry-run (sync and --async) equal hand-written ADQL sent with curl
#   e  the DELETE of the job (DaCHS answers 303 to the job list) is not followed; no job left in DaCHS
#
# CI runs it (.ci/run, after the SLURM test; each PASS/FAIL line counts as a test). Measured on the
# 2-core dev VM (Debian 12, apt mirror reachable): install of
# gavodachs2-server with all 39 new packages 40 s (+ 8 s for its postinst when PostgreSQL was not
# running), 15 s for the 7 DaCHS packages alone; PostgreSQL start 2.5 s, import + publish 6-13 s,
# server start 3-6 s, checks 23-46 s (a deliberately slow query keeps the job EXECUTING for 5-12 s so it
# can be killed). Whole script: 52 s after DaCHS was purged (PostgreSQL stopped), 67 s with DaCHS
# installed and running, so about 1.5 minutes on a machine without DaCHS.
# Needs curl, sqlite3 and PostgreSQL 15 (Debian 12). Runs as root (apt, /etc/gavo.rc, /var/gavo); it
# WRITES /etc/gavo.rc: use a throwaway machine.
# DaCHS and PostgreSQL are left running (stop: `dachs serve stop; pg_ctlcluster 15 main stop`).
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PORT=${DACHS_PORT:-8097}
TAP="http://127.0.0.1:$PORT/tap"
VOCUT=(node "$ROOT/dist/cli/index.js")
WEBLOG=/var/gavo/logs/web.log
WORK=$(mktemp -d /tmp/dachs-check.XXXXXX)
FAILS=0
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
result() { # result NAME OK DETAIL
  if [ "$2" = 1 ]; then echo "PASS $1: $3"; else echo "FAIL $1: $3"; FAILS=$((FAILS + 1)); fi
}
logmark() { wc -l <"$WEBLOG"; }
logsince() { tail -n +"$(($1 + 1))" "$WEBLOG" | grep -F "HTTP/1.1'\"" || true; }
[ -f "$ROOT/dist/cli/index.js" ] || { echo "FAIL setup: run npm run build first"; exit 1; }

# --- set-up -------------------------------------------------------------------------------------
# DaCHS's postinst needs a running PostgreSQL; without systemd it is started by hand (before the install
# when PostgreSQL is there already, else after it, and the postinst is run again).
pgstart() {
  local t
  t=$(now)
  pg_lsclusters -h 2>/dev/null | grep -q '^15 *main .*online' || pg_ctlcluster 15 main start
  echo "TIME postgresql-start $(since "$t") s"
}
command -v pg_ctlcluster >/dev/null && pg_lsclusters -h 2>/dev/null | grep -q '^15 *main' && pgstart
T=$(now)
if ! command -v dachs >/dev/null; then
  APT=(apt-get -q -o DPkg::Lock::Timeout=600)
  DEBIAN_FRONTEND=noninteractive flock /tmp/apt.lock "${APT[@]}" install -y gavodachs2-server >"$WORK/apt.log" 2>&1 ||
    { flock /tmp/apt.lock "${APT[@]}" update >>"$WORK/apt.log" 2>&1 &&
      DEBIAN_FRONTEND=noninteractive flock /tmp/apt.lock "${APT[@]}" install -y gavodachs2-server >>"$WORK/apt.log" 2>&1; } ||
    true
  echo "TIME install $(since "$T") s"
fi
pgstart
if dpkg -s gavodachs2-server 2>/dev/null | grep -q 'install ok unpacked\|half-configured'; then
  T=$(now)
  flock /tmp/apt.lock dpkg --configure -a >>"$WORK/apt.log" 2>&1
  echo "TIME dachs-postinst $(since "$T") s"
fi
dachs --version | head -1
cat >/etc/gavo.rc <<EOF
[web]
bindAddress: 127.0.0.1
serverPort: $PORT
serverURL: http://127.0.0.1:$PORT
[ivoa]
authority: vcut.test
EOF
RES=/var/gavo/inputs/vcut
mkdir -p "$RES"
cp "$ROOT/fixtures/dachs/q.rd" "$RES/"
rm -rf "$RES/data" && cp -r "$ROOT/fixtures/dachs/data" "$RES/data"
chown -R dachsroot:gavo "$RES"
T=$(now)
# A running server is stopped first: a query that failed inside it can leave its database session idle in
# a transaction that holds a lock on ivoa.obscore, and `dachs imp //obscore` (DROP VIEW) then waits for
# ever (seen after a SUM that DaCHS could not serialise).
dachs serve stop >/dev/null 2>&1 || true
(cd "$RES" && dachs imp //obscore >"$WORK/imp.log" 2>&1 && dachs imp q >>"$WORK/imp.log" 2>&1 &&
  dachs pub q >>"$WORK/imp.log" 2>&1) || { echo "FAIL setup: dachs imp/pub, see $WORK/imp.log"; exit 1; }
echo "TIME import+publish $(since "$T") s"
T=$(now)
dachs serve start >"$WORK/serve.log" 2>&1
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$PORT/tap/availability" >/dev/null && break; sleep 0.2; done
echo "TIME serve-start $(since "$T") s"
(cd "$RES/data" && sha256sum ./*.fits | sed 's# \./# #' | sort) >"$WORK/want.sha"
NPROD=$(wc -l <"$WORK/want.sha")

adql() { # adql QUERY -> TSV rows from the sync endpoint
  curl -s "$TAP/sync" -d REQUEST=doQuery -d LANG=ADQL -d RESPONSEFORMAT=tsv --data-urlencode "QUERY=$1"
}
shas() { (cd "$1" && sha256sum ./*.fits 2>/dev/null | sed 's# \./# #' | sort); }
CHECKS=$(now)

# --- a: byte-exact ------------------------------------------------------------------------------
Q="SELECT * FROM ivoa.obscore WHERE obs_collection LIKE 'VCUT%'"
OUT_A="$WORK/a"
M=$(logmark)
"${VOCUT[@]}" obscore --tap "$TAP" --async --query "$Q" --out "$OUT_A" --rate 20 >"$WORK/a.log" 2>&1
RC=$?
GOT=$(shas "$OUT_A" | wc -l)
if [ $RC = 0 ] && shas "$OUT_A" | diff -q - "$WORK/want.sha" >/dev/null; then OK=1; else OK=0; fi
result a "$OK" "exit $RC, $GOT of $NPROD products sha256-equal to the published files, $(logsince "$M" | grep -c getproduct) product GETs"

# --- c: rerun asks nothing ------------------------------------------------------------------------
M=$(logmark)
"${VOCUT[@]}" obscore --tap "$TAP" --async --query "$Q" --out "$OUT_A" --rate 20 >"$WORK/c.log" 2>&1
RC=$?
sleep 1 # web.log is written by the server process after the answer
N=$(logsince "$M" | wc -l)
[ $RC = 0 ] && [ "$N" = 0 ] && OK=1 || OK=0
result c "$OK" "rerun exit $RC, $N request(s) in DaCHS's web.log"

# --- b: kill while the job executes, resume the same job -------------------------------------------
# NOT EXISTS over a 4-way self join of tap_schema.columns: the same 8 rows, but the job EXECUTES ~12 s.
SLOW="$Q AND NOT EXISTS (SELECT 1 FROM tap_schema.columns AS a, tap_schema.columns AS b, tap_schema.columns AS c, tap_schema.columns AS d WHERE a.column_index + b.column_index + c.column_index + d.column_index < -1)"
OUT_B="$WORK/b"
M=$(logmark)
"${VOCUT[@]}" obscore --tap "$TAP" --async --query "$SLOW" --out "$OUT_B" --rate 20 >"$WORK/b1.log" 2>&1 &
PID=$!
JOB=""
PHASE=""
for _ in $(seq 1 300); do
  sleep 0.1
  J=$(sqlite3 -readonly "$OUT_B/vocut.db" "SELECT json_extract(value, '\$.url') FROM meta WHERE key = 'tapJob'" 2>/dev/null)
  if [ -n "$J" ]; then
    JOB=$J
    PHASE=$(curl -s "$JOB/phase")
    [ "$PHASE" = EXECUTING ] && break
  fi
done
kill -9 "$PID" 2>/dev/null
wait "$PID" 2>/dev/null
AT_KILL=$(curl -s "$JOB/phase")
"${VOCUT[@]}" status "$OUT_B" >"$WORK/b-status.log" 2>&1
ST_RC=$?
# The phase shown is the one vocut last saw (PENDING, QUEUED or EXECUTING), or "not polled yet": the
# script kills once DaCHS says EXECUTING, which vocut's blocking poll may not have brought back yet (seen
# under CI's load).
ST_SEEN=$(grep -cE "^async TAP job $JOB: ((PENDING|QUEUED|EXECUTING) when last seen|not polled yet)" "$WORK/b-status.log")
ST_PHASE=$(grep -oE "^async TAP job $JOB: ([A-Z]+ when last seen|not polled yet)" "$WORK/b-status.log" | sed 's/^[^ ]* [^ ]* [^ ]* [^ ]* //')
[ "$ST_SEEN" = 1 ] || ST_PHASE="status printed: $(head -c 400 "$WORK/b-status.log" | tr '\n' ' ')"
"${VOCUT[@]}" obscore --tap "$TAP" --async --query "$SLOW" --out "$OUT_B" --rate 20 >"$WORK/b2.log" 2>&1
RC=$?
sleep 1
CREATED=$(logsince "$M" | grep -c "'POST' '/tap/async'")
RESUMED=$(grep -c "resuming the TAP job $JOB " "$WORK/b2.log")
if [ $RC = 0 ] && [ "$CREATED" = 1 ] && [ "$RESUMED" = 1 ] && [ "$AT_KILL" = EXECUTING ] &&
  [ "$ST_RC" = 5 ] && [ "$ST_SEEN" = 1 ] &&
  shas "$OUT_B" | diff -q - "$WORK/want.sha" >/dev/null; then OK=1; else OK=0; fi
result b "$OK" "killed with $JOB in the ledger, DaCHS phase at kill $AT_KILL, vocut status showed it ($ST_SEEN: $ST_PHASE; exit $ST_RC); rerun exit $RC resumed it ($RESUMED), POST /tap/async in web.log: $CREATED, $(shas "$OUT_B" | wc -l) products byte-exact"

# --- e: DELETE not followed, nothing left ---------------------------------------------------------
ID=${JOB##*/}
DEL=$(logsince "$M" | grep -c "'DELETE' '/__system__/tap/run/async/$ID' 'HTTP/1.1'\" 303")
LIST=$(logsince "$M" | grep -c "'GET' '/__system__/tap/run/async' ")
LEFT=$(su postgres -c "psql gavo -Atc \"SELECT count(*) FROM tap_schema.tapjobs WHERE jobid = '$ID'\"")
GONE=$(curl -s -o /dev/null -w '%{http_code}' "$JOB")
[ "$DEL" = 1 ] && [ "$LIST" = 0 ] && [ "$LEFT" = 0 ] && [ "$GONE" = 404 ] && OK=1 || OK=0
result e "$OK" "DELETE answered 303 ($DEL), GETs of the job list $LIST, job rows left in tap_schema.tapjobs $LEFT, job URL now HTTP $GONE"

# --- d: --describe and --dry-run against hand-written ADQL ----------------------------------------
# A UNION ALL repeats the two M51 rows: 10 rows, 8 distinct products.
DUP="$Q UNION ALL SELECT * FROM ivoa.obscore WHERE obs_id LIKE '%m51%'"
adql "SELECT obs_collection, dataproduct_type, COUNT(*), SUM(access_estsize) FROM ivoa.obscore GROUP BY obs_collection, dataproduct_type" >"$WORK/hand-describe.tsv"
adql "SELECT q.obs_collection, q.dataproduct_type, COUNT(*), SUM(q.access_estsize) FROM ($DUP) AS q GROUP BY q.obs_collection, q.dataproduct_type" >"$WORK/hand-dry.tsv"
adql "SELECT DISTINCT q.obs_collection, q.dataproduct_type, q.access_url FROM ($DUP) AS q" >"$WORK/hand-distinct.tsv"
"${VOCUT[@]}" obscore --tap "$TAP" --describe --json >"$WORK/describe.json" 2>"$WORK/d.err"
"${VOCUT[@]}" obscore --tap "$TAP" --describe --async --json >"$WORK/describe-async.json" 2>>"$WORK/d.err"
"${VOCUT[@]}" obscore --tap "$TAP" --query "$DUP" --dry-run --json >"$WORK/dry.json" 2>>"$WORK/d.err"
"${VOCUT[@]}" obscore --tap "$TAP" --query "$DUP" --dry-run --async --json >"$WORK/dry-async.json" 2>>"$WORK/d.err"
/usr/bin/python3 - "$WORK" "$RES/data" <<'EOF'
import collections, json, os, sys
work, data = sys.argv[1], sys.argv[2]
def tsv(name):
    with open(os.path.join(work, name)) as f:
        return [l.rstrip("\n").split("\t") for l in f if l.strip()]
def groups(rows, distinct=None):
    g = {(r[0], r[1]): {"rows": int(float(r[2])), "estKb": int(float(r[3] or 0))} for r in rows}
    for k, n in (distinct or {}).items():
        g[k]["products"] = n
    return g
def load(name):
    with open(os.path.join(work, name)) as f:
        doc = json.loads(f.read().strip().splitlines()[-1])
    return {(x["collection"], x["type"]): {k: x[k] for k in ("rows", "products", "estKb") if k in x} for x in doc["groups"]}
files_kb = sum(os.path.getsize(os.path.join(data, f)) // 1024 for f in os.listdir(data))
hand_d = groups(tsv("hand-describe.tsv"))
distinct = collections.Counter((r[0], r[1]) for r in tsv("hand-distinct.tsv"))
hand_r = groups(tsv("hand-dry.tsv"), distinct)
ok = True
for name, hand in (("describe.json", hand_d), ("describe-async.json", hand_d), ("dry.json", hand_r), ("dry-async.json", hand_r)):
    try:
        got = load(name)
    except Exception as e:
        got = f"unreadable: {e}"
    same = got == hand
    ok = ok and same
    print(f"  {name}: {'equal to' if same else 'DIFFERS from'} hand ADQL {sorted(hand.items())}" + ("" if same else f" got {got}"))
total = sum(g["estKb"] for g in hand_d.values())
print(f"  sum of access_estsize {total} kB; published files sum(bytes // 1024) = {files_kb} kB")
sys.exit(0 if ok and total == files_kb else 1)
EOF
[ $? = 0 ] && OK=1 || OK=0
result d "$OK" "--describe (sync, --async) and --dry-run (sync, --async) of a query with repeated rows equal curl-sent ADQL"
echo "TIME checks $(since "$CHECKS") s"
echo "work folder: $WORK; DaCHS at http://127.0.0.1:$PORT (web log $WEBLOG)"
[ "$FAILS" = 0 ]
