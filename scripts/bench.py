#!/usr/bin/env python3
"""The pull benchmark (DESIGN.md section 7), driven by scripts/bench.sh.

Every method loads the same generated rows into the same table definition, each in a fresh
psql session, in REPEAT rounds of every method (round-robin); the median wall time is reported,
and each ratio is the median of the ratios within a round. Methods:

  ceiling        COPY target FROM '<file>' (FORMAT binary, FREEZE) of exactly the same rows,
                 into a table created in the same transaction (what pgmig append does)
  append         pgmig.pull_table(mode => 'append') into a missing target
  append_tiberius  the same with SET pgmig.tds_reader = 'tiberius' (the reader pgmig had
                 before its own: the before/after of that change, measured side by side)
  truncate       pgmig.pull_table(mode => 'truncate') into the loaded target
  replace        pgmig.pull_table(mode => 'replace') of the loaded target
  upsert_empty   pgmig.pull_table(mode => 'upsert') into a missing target
  upsert_10pct   mode => 'upsert' after 10% of the target's rows were changed
  upsert_same    mode => 'upsert' with nothing changed
  upsert_10pct_nocompare, upsert_same_nocompare  the same two with SET pgmig.upsert_compare =
                 off: every row staged and merged by ON CONFLICT, as before the comparison (the
                 before/after of that change, measured side by side)
  upsert_wm_10pct  incremental sync (watermark => the last-activity column) after the newest
                 10% of rows changed: the stored watermark is set to the 90th percentile and
                 the target's rows above it changed, so the run reads and writes those 10%
  upsert_wm_same incremental sync with nothing changed since the previous run
  tds_fdw        INSERT INTO target SELECT * FROM a tds_fdw foreign table (Debian's tds_fdw)

The peak private resident memory (RssAnon, sampled every 10 ms from /proc) of each method's
backend is reported; its total RSS would also count the shared buffers it touches, which grow
with the table whatever loads it. pgmig append runs again at ROWS/10 to show that memory does
not grow with the table. Also reported: the CPU time of the backend's main thread, of its other
threads (pgmig's network thread) and of the TDS test server, which shares this machine's cores.
Writes results.json, results.csv and rows_per_sec.svg under the results folder and prints a
table. No method is asserted: the numbers are for reading.
"""

import csv
import json
import os
import statistics
import subprocess
import sys
import time

DSN = os.environ["BENCH_DSN"]
TDS_PORT = os.environ["BENCH_TDS_PORT"]
TDS_USER = os.environ["BENCH_TDS_USER"]
TDS_PASSWORD = os.environ["BENCH_TDS_PASSWORD"]
TDS_PID = os.environ.get("BENCH_TDS_PID")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
ROWS = int(os.environ.get("ROWS", "100000"))
REPEAT = int(os.environ.get("REPEAT", "3"))
TABLES = [t.strip() for t in os.environ.get("TABLE", "votes,posts").split(",") if t.strip()]
RESULTS = os.environ.get("RESULTS", "bench/results")
FILES = os.environ.get("BENCH_FILES", "/tmp/pgmig-bench-files")
SOURCE = {"posts": "dbo.Posts", "votes": "dbo.Votes"}
# The incremental sync's watermark: the newest activity of a row (both NOT NULL datetime).
WATERMARK = {"posts": "LastActivityDate", "votes": "CreationDate"}
DATABASE = "StackOverflow2010"
PEER_ERRORS = {}


class PsqlError(Exception):
    pass


def psql(sql, database="bench", check=True):
    """Runs sql in a fresh session; returns (seconds, stdout)."""
    started = time.monotonic()
    done = subprocess.run(
        ["psql", DSN.replace("dbname=postgres", f"dbname={database}"), "-X", "-q", "-At",
         "-v", "ON_ERROR_STOP=1", "-c", sql],
        capture_output=True, text=True)
    seconds = time.monotonic() - started
    if done.returncode != 0:
        if not check:
            raise PsqlError(done.stderr.strip())
        sys.exit(f"psql failed on:\n{sql}\n{done.stderr}")
    return seconds, done.stdout


def cpu_seconds(stat_path):
    """utime + stime from a /proc stat file; for a process (not a task) it includes the
    threads that have already exited. None once the process is gone."""
    try:
        with open(stat_path) as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def timed_with_rss(statement, prepare=None, check=True):
    """Runs prepare (untimed), then statement in a fresh session, sampling the backend's
    private resident memory (RssAnon: not the shared buffers it touches) and its CPU time every
    10 ms; the time is that of the session minus a baseline of an empty session. Returns
    (seconds, peak RssAnon kB, {main, threads, tds_server: CPU seconds})."""
    for statement_before in [prepare] if isinstance(prepare, str) else (prepare or []):
        psql(statement_before)
    name = f"pgmig-bench-{time.monotonic_ns()}"
    server_cpu_before = cpu_seconds(f"/proc/{TDS_PID}/stat") if TDS_PID else None
    main_cpu = process_cpu = 0.0
    started = time.monotonic()
    proc = subprocess.Popen(
        ["psql", DSN.replace("dbname=postgres", "dbname=bench"), "-X", "-q", "-At",
         "-v", "ON_ERROR_STOP=1", "-c", statement],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PGAPPNAME": name})
    pid, peak = None, 0
    while proc.poll() is None:
        if pid is None:
            out = subprocess.run(
                ["psql", DSN, "-X", "-At", "-c",
                 f"SELECT pid FROM pg_stat_activity WHERE application_name = '{name}'"],
                capture_output=True, text=True).stdout.strip()
            pid = int(out) if out.isdigit() else None
        if pid is not None:
            try:
                with open(f"/proc/{pid}/status") as f:
                    for line in f:
                        if line.startswith("RssAnon:"):
                            peak = max(peak, int(line.split()[1]))
            except OSError:
                pass
            # The last sample before the backend exits: at most 10 ms of its CPU is missed.
            main_cpu = cpu_seconds(f"/proc/{pid}/task/{pid}/stat") or main_cpu
            process_cpu = cpu_seconds(f"/proc/{pid}/stat") or process_cpu
        time.sleep(0.01)
    seconds = time.monotonic() - started
    server_cpu_after = cpu_seconds(f"/proc/{TDS_PID}/stat") if TDS_PID else None
    cpu = {"main": round(main_cpu, 2), "threads": round(max(process_cpu - main_cpu, 0.0), 2),
           "tds_server": round(server_cpu_after - server_cpu_before, 2)
           if server_cpu_before is not None and server_cpu_after is not None else None}
    _, err = proc.communicate()
    if proc.returncode != 0:
        if not check:
            raise PsqlError(err.strip())
        sys.exit(f"psql failed on:\n{statement}\n{err}")
    return max(seconds - BASELINE, 1e-6), peak, cpu


def summarize(name, table, runs):
    """One result row from a method's runs: the median time, the largest private memory."""
    seconds = statistics.median(r[0] for r in runs)
    rss = max(r[1] for r in runs)
    cpu = {part: (statistics.median(r[2][part] for r in runs)
                  if all(r[2][part] is not None for r in runs) else None)
           for part in ("main", "threads", "tds_server")}
    row = {"table": table, "method": name, "rows": ROWS, "seconds": round(seconds, 4),
           "rows_per_sec": round(ROWS / seconds), "mb_per_sec": round(DATA_MB[table] / seconds, 1),
           "peak_rss_kb": rss, "cpu_seconds": cpu, "runs": [round(r[0], 4) for r in runs]}
    server = f"{cpu['tds_server']:.2f}" if cpu["tds_server"] is not None else "-"
    print(f"  {table:6} {name:13} {seconds:8.3f} s {row['rows_per_sec']:>10} rows/s "
          f"{row['mb_per_sec']:>8} MB/s  private RSS {rss / 1024:7.1f} MB  "
          f"CPU s: main {cpu['main']:.2f} threads {cpu['threads']:.2f} server {server}",
          flush=True)
    return row


def measure_rounds(table, methods):
    """Runs every method once per round, REPEAT rounds, in the order given (each method's
    prepare step sets up what it needs from the state the previous one left). Round-robin, so
    that drift of these shared machines over minutes reaches every method alike and the ratios
    of one round compare runs made seconds apart."""
    runs = {name: [] for name, *_ in methods}
    failed = set()
    for round_no in range(REPEAT):
        for name, statement, prepare, check in methods:
            if name in failed:
                continue
            try:
                runs[name].append(timed_with_rss(statement, prepare, check))
            except PsqlError as error:
                PEER_ERRORS[table] = error.args[0].splitlines()[0] if error.args[0] else "failed"
                print(f"  {table:6} {name:13} not measured: {PEER_ERRORS[table]}", flush=True)
                failed.add(name)
        print(f"  {table:6} round {round_no + 1}/{REPEAT}: "
              + ", ".join(f"{n} {r[-1][0]:.2f} s" for n, r in runs.items() if r), flush=True)
    return [summarize(name, table, r) for name, r in runs.items() if r]


def main():
    global BASELINE, DATA_MB
    psql("DROP DATABASE IF EXISTS bench", "postgres")
    psql("CREATE DATABASE bench", "postgres")
    BASELINE = statistics.median(psql("SELECT 1")[0] for _ in range(5))
    psql(f"""
        CREATE EXTENSION pgmig;
        CREATE SERVER src FOREIGN DATA WRAPPER pgmig OPTIONS (host '127.0.0.1', port '{TDS_PORT}',
            database '{DATABASE}', encrypt 'off', trust_server_certificate 'true');
        CREATE USER MAPPING FOR CURRENT_USER SERVER src
            OPTIONS (user '{TDS_USER}', password '{TDS_PASSWORD}');
        CREATE EXTENSION tds_fdw;
        CREATE SERVER peer FOREIGN DATA WRAPPER tds_fdw OPTIONS (servername '127.0.0.1',
            port '{TDS_PORT}', database '{DATABASE}', tds_version '7.4', msg_handler 'notice');
        CREATE USER MAPPING FOR CURRENT_USER SERVER peer
            OPTIONS (username '{TDS_USER}', password '{TDS_PASSWORD}');
        ALTER DATABASE bench SET pgmig.progress_interval = 0;""")
    os.makedirs(FILES, exist_ok=True)
    os.chmod(FILES, 0o777)
    DATA_MB = {}
    results = []
    for table in TABLES:
        source = SOURCE[table]
        print(f"{source}: {ROWS} rows", flush=True)
        # The reference table (pgmig's own mapping) and the binary file of exactly its rows.
        psql(f"SELECT * FROM pgmig.pull_table('{source}', target => 'ref_{table}')")
        path = f"{FILES}/{table}.bin"
        psql(f"COPY ref_{table} TO '{path}' (FORMAT binary)")
        DATA_MB[table] = os.path.getsize(path) / 1e6
        like = f"(LIKE ref_{table} INCLUDING ALL)"
        t = f"t_{table}"
        drop = f"DROP TABLE IF EXISTS {t}"
        pull = f"SELECT * FROM pgmig.pull_table('{source}', target => '{t}'"
        no_compare = "SET pgmig.upsert_compare = off; "
        change = [f"UPDATE {t} SET creationdate = creationdate + interval '1 second' "
                  "WHERE id % 10 = 0", f"VACUUM {t}"]
        # The newest 10% by the watermark column changed in the target, and the stored
        # watermark set below them: as if the source's newest 10% changed since the last run.
        mark = WATERMARK[table]
        p90 = (f"(SELECT to_char(percentile_disc(0.9) WITHIN GROUP (ORDER BY {mark.lower()}), "
               f"'YYYY-MM-DD\"T\"HH24:MI:SS.MS') FROM {t})")
        # The columns a pull of all of them reads, as the watermark keeps them (else the run
        # would read everything: "the columns read differ").
        columns_read = ("(SELECT string_agg('[' || replace(column_name, ']', ']]') || ']', ', ' "
                        f"ORDER BY n) FROM (SELECT column_name, row_number() OVER () AS n "
                        f"FROM pgmig.describe('{source}')) d)")
        watermark_10pct = [
            f"SELECT pgmig.watermark_set('src', '{source}', '{t}', '{mark}', 'datetime', NULL, "
            f"{p90}, NULL, {columns_read})",
            f"UPDATE {t} SET creationdate = creationdate + interval '1 second' "
            f"WHERE {mark.lower()} > {p90}::timestamp",
            f"VACUUM {t}"]
        # The peer: tds_fdw, same rows into the same table definition.
        _, columns = psql(
            "SELECT string_agg(format('%I %s OPTIONS (column_name %L)', attname, "
            "format_type(atttypid, atttypmod), src), ', ' ORDER BY attnum) FROM ("
            f"SELECT a.*, d.column_name AS src FROM pg_attribute a JOIN pgmig.describe('{source}') d "
            "ON d.pg_column = a.attname "
            f"WHERE attrelid = 'ref_{table}'::regclass AND attnum > 0 AND NOT attisdropped) x")
        psql(f"DROP FOREIGN TABLE IF EXISTS f_{table}; CREATE FOREIGN TABLE f_{table} "
             f"({columns.strip()}) SERVER peer OPTIONS (table_name '{source}', "
             "use_remote_estimate 'false')")
        # (name, statement, prepare, check): each prepare step needs only what the method
        # before it in this list left behind.
        methods = [
            ("ceiling",
             f"BEGIN; CREATE TABLE {t} {like}; COPY {t} FROM '{path}' (FORMAT binary, FREEZE); COMMIT",
             drop, True),
            ("append", pull + ")", drop, True),
            ("append_tiberius", "SET pgmig.tds_reader = 'tiberius'; " + pull + ")", drop, True),
            ("truncate", pull + ", mode => 'truncate')", None, True),
            ("replace", pull + ", mode => 'replace')", None, True),
            ("upsert_empty", pull + ", mode => 'upsert')", drop, True),
            ("upsert_10pct", pull + ", mode => 'upsert')", change, True),
            ("upsert_same", pull + ", mode => 'upsert')", f"VACUUM {t}", True),
            ("upsert_10pct_nocompare", no_compare + pull + ", mode => 'upsert')", change, True),
            ("upsert_same_nocompare", no_compare + pull + ", mode => 'upsert')", f"VACUUM {t}",
             True),
            ("upsert_wm_10pct", pull + f", mode => 'upsert', watermark => '{mark}')",
             watermark_10pct, True),
            # The run before stored the source's high mark: nothing is newer.
            ("upsert_wm_same", pull + f", mode => 'upsert', watermark => '{mark}')", None, True),
            ("tds_fdw",
             f"BEGIN; CREATE TABLE {t} {like}; INSERT INTO {t} SELECT * FROM f_{table}; COMMIT",
             drop, False),
        ]
        results.extend(measure_rounds(table, methods))
        # Memory at a tenth of the rows (same table, same session shape).
        small = max(ROWS // 10, 1)
        seconds, rss, _ = timed_with_rss(
            f"SELECT * FROM pgmig.pull_table('{source}', target => '{t}', filter => 'Id <= {small}')",
            drop)
        results.append({"table": table, "method": "append_tenth", "rows": small,
                        "seconds": round(seconds, 4), "rows_per_sec": round(small / seconds),
                        "mb_per_sec": None, "peak_rss_kb": rss, "runs": [round(seconds, 4)]})
        print(f"  {table:6} append at {small} rows: private RSS {rss / 1024:.1f} MB", flush=True)
        psql(drop)
        os.remove(path)
    report(results)


def ratio(results, table, a, b):
    """Speed of a over speed of b: the median of the ratios within each round (runs made
    seconds apart), not the ratio of two medians."""
    by = {(r["table"], r["method"]): r for r in results}
    if (table, a) in by and (table, b) in by:
        pairs = zip(by[(table, a)]["runs"], by[(table, b)]["runs"])
        return round(statistics.median(tb / ta for ta, tb in pairs), 3)
    return None


def append_bound_by_cpu(results, table):
    """The highest append/ceiling this machine allows, given the CPU append consumed: its wall
    time can be no shorter than its main thread's CPU, nor than all its CPU (main thread,
    network thread, the TDS server on the same machine) spread over every core."""
    by = {(r["table"], r["method"]): r for r in results}
    append, ceiling = by.get((table, "append")), by.get((table, "ceiling"))
    if not append or not ceiling or None in append["cpu_seconds"].values():
        return None
    cpu = append["cpu_seconds"]
    shortest = max(cpu["main"], sum(cpu.values()) / os.cpu_count())
    return round(ceiling["seconds"] / shortest, 3) if shortest > 0 else None


def report(results):
    os.makedirs(RESULTS, exist_ok=True)
    by = {(r["table"], r["method"]): r for r in results}
    summary = {}
    for table in TABLES:
        small = by.get((table, "append_tenth"), {}).get("peak_rss_kb")
        large = by.get((table, "append"), {}).get("peak_rss_kb")
        summary[table] = {
            "append/ceiling": ratio(results, table, "append", "ceiling"),
            "append/tds_fdw": ratio(results, table, "append", "tds_fdw"),
            "append/append_tiberius": ratio(results, table, "append", "append_tiberius"),
            "upsert_10pct/append": ratio(results, table, "upsert_10pct", "append"),
            "upsert_same/append": ratio(results, table, "upsert_same", "append"),
            "upsert_10pct_nocompare/append":
                ratio(results, table, "upsert_10pct_nocompare", "append"),
            "upsert_same_nocompare/append":
                ratio(results, table, "upsert_same_nocompare", "append"),
            "upsert_wm_10pct/append": ratio(results, table, "upsert_wm_10pct", "append"),
            "upsert_wm_same/append": ratio(results, table, "upsert_wm_same", "append"),
            "append/ceiling allowed by CPU": append_bound_by_cpu(results, table),
            "private_rss_growth": round(large / small, 3) if small and large else None,
        }
    meta = {"rows": ROWS, "repeat": REPEAT, "cores": os.cpu_count(),
            "date": time.strftime("%Y-%m-%d %H:%M:%S"), "data_mb": DATA_MB,
            "peer_errors": PEER_ERRORS}
    with open(f"{RESULTS}/results.json", "w") as f:
        json.dump({"meta": meta, "results": results, "ratios": summary}, f, indent=2)
    with open(f"{RESULTS}/results.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["table", "method", "rows", "seconds", "rows_per_sec", "mb_per_sec", "peak_rss_kb",
                    "cpu_main_s", "cpu_threads_s", "cpu_tds_server_s"])
        for r in results:
            cpu = r.get("cpu_seconds", {})
            w.writerow([r["table"], r["method"], r["rows"], r["seconds"], r["rows_per_sec"],
                        r["mb_per_sec"], r["peak_rss_kb"], cpu.get("main"), cpu.get("threads"),
                        cpu.get("tds_server")])
    write_svg(results, f"{RESULTS}/rows_per_sec.svg")
    print(f"\nratios ({ROWS} rows, {os.cpu_count()} cores, median over {REPEAT} rounds):")
    targets = {"append/ceiling": 0.85, "append/tds_fdw": 10, "upsert_10pct/append": 0.6,
               "upsert_same/append": 1.5}
    for table, ratios in summary.items():
        for name, value in ratios.items():
            target = targets.get(name)
            verdict = ""
            if target is not None and value is not None:
                verdict = "meets" if value >= target else "below"
                verdict = f"(target >= {target}: {verdict})"
            elif name == "private_rss_growth" and value is not None:
                verdict = f"(target <= 1.10: {'meets' if value <= 1.10 else 'above'})"
            print(f"  {table:6} {name:30} {value} {verdict}")
    print(f"\nwritten: {RESULTS}/results.json, results.csv, rows_per_sec.svg")


def write_svg(results, path):
    rows = [r for r in results if r["method"] != "append_tenth"]
    bar_h, gap, left, width = 18, 6, 170, 560
    top = max((r["rows_per_sec"] for r in rows), default=1)
    height = len(rows) * (bar_h + gap) + 40
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 120}" height="{height}" '
             'font-family="sans-serif" font-size="12">',
             f'<text x="10" y="16" font-weight="bold">rows/s per method ({ROWS} rows, '
             f'{os.cpu_count()} cores, median of {REPEAT})</text>']
    colors = {"ceiling": "#888", "tds_fdw": "#c55"}
    for i, r in enumerate(rows):
        y = 30 + i * (bar_h + gap)
        w = max(1, int(width * r["rows_per_sec"] / top))
        color = colors.get(r["method"], "#3a7")
        parts.append(f'<text x="10" y="{y + 13}">{r["table"]} {r["method"]}</text>')
        parts.append(f'<rect x="{left}" y="{y}" width="{w}" height="{bar_h}" fill="{color}"/>')
        parts.append(f'<text x="{left + w + 5}" y="{y + 13}">{r["rows_per_sec"]:,}</text>')
    parts.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(parts))


if __name__ == "__main__":
    main()
