#!/usr/bin/env python3
"""Benchmark peer for Tally: applies an event stream to the same boards with the Python
`leaderboard` package (agoragames, Redis-backed; needs redis<3) and reports its throughput.

    python3 scripts/bench-peer.py --redis-url redis://127.0.0.1:6379/0 --events FILE [--limit N]

Normally run through scripts/bench-peer, which installs `leaderboard` and `redis<3` into
.build/peer-venv. FILE is JSON lines, one event a line:
    {"id":"e-1","rep":"rep-42","team":"team-7","kind":"door_knock","value":0,"at_ms":1790000000000}

Scoring copies Tally's default rules (Shared/TallyDomain/Rules.swift and ScoringPlan.swift):
UTC days, Monday (ISO) weeks, windows today/week/month/quarter/year/all, scopes reps/teams,
metrics points/revenue/deals/doors/appointments. Every metric that counts the event's kind adds
its amount to the rep's and the team's score on `peer:<metric>:<window>:<scope>:<period>`, once
per window, with `Leaderboard.change_score_for`. Before that, the event's id is recorded with
`SET peer:seen:<id> 1 NX EX 864000` on the library's own connection; an id seen before is
skipped, as Tally does.

Before the run, keys left by an earlier run (`peer:*`) are deleted so that the event ids are
new again (--keep-existing leaves them, and then a repeated stream is all duplicates).
Only the applying is timed: the file is read and parsed first. Prints one JSON line:
    {"events": N, "seconds": S, "events_per_second": R, "board_updates": U,
     "idempotency": true, "library": "leaderboard X.Y.Z", "redis_py": "2.x.y", ...}
Errors go to stderr with exit status 1.
"""

import argparse
import datetime
import json
import sys
import time
import urllib.parse

PREFIX = "peer:"
SEEN_TTL_SECONDS = 864000

# Tally's default rules: metric -> {kind: points, or "value" for the event's value}.
METRICS = [
    ("points", {"door_knock": 1, "call": 1, "email": 1, "appointment": 5,
                "demo": 10, "proposal": 15, "deal_won": 50}),
    ("revenue", {"deal_won": "value"}),
    ("deals", {"deal_won": 1}),
    ("doors", {"door_knock": 1}),
    ("appointments", {"appointment": 1}),
]
KINDS = ["door_knock", "call", "email", "appointment", "demo", "proposal", "deal_won"]
WINDOWS = ["today", "week", "month", "quarter", "year", "all"]
SCOPES = ["reps", "teams"]
EPOCH = datetime.date(1970, 1, 1)
MS_PER_DAY = 86_400_000


class Failure(Exception):
    pass


def fail(message):
    raise Failure(message)


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description="Apply a Tally event stream with the Python `leaderboard` package and time it.")
    parser.add_argument("--redis-url", required=True, help="redis://HOST:PORT/DB")
    parser.add_argument("--events", required=True, help="JSON lines file of events")
    parser.add_argument("--limit", type=int, default=None, help="apply only the first N events")
    parser.add_argument("--keep-existing", action="store_true",
                        help="do not delete peer:* keys of an earlier run first")
    args = parser.parse_args(argv)
    if args.limit is not None and args.limit < 0:
        parser.error("--limit must be 0 or more")
    return args


def redis_options(url):
    """host, port, db (and password) from redis://[:password@]host[:port][/db]."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "redis":
        fail(f"--redis-url must look like redis://127.0.0.1:6379/0, got {url!r}")
    try:
        port = parts.port or 6379
    except ValueError:
        fail(f"bad port in --redis-url {url!r}")
    path = parts.path.strip("/")
    if path and not path.isdigit():
        fail(f"the database in --redis-url must be a number, got {path!r}")
    options = {"host": parts.hostname or "127.0.0.1", "port": port, "db": int(path or 0)}
    if parts.password:
        options["password"] = urllib.parse.unquote(parts.password)
    return options


def read_events(path, limit):
    """Parsed events as (id, rep, team-or-None, kind, value, at_ms) tuples."""
    events = []
    try:
        handle = open(path, encoding="utf-8")
    except OSError as error:
        fail(f"cannot read events file: {error}")
    with handle:
        for number, line in enumerate(handle, 1):
            if limit is not None and len(events) >= limit:
                break
            line = line.strip()
            if not line:
                continue
            try:
                raw = json.loads(line)
            except ValueError as error:
                fail(f"{path}:{number}: not JSON: {error}")
            if not isinstance(raw, dict):
                fail(f"{path}:{number}: an event must be a JSON object")
            event_id, rep, team = raw.get("id"), raw.get("rep"), raw.get("team")
            kind, value, at_ms = raw.get("kind"), raw.get("value", 0), raw.get("at_ms")
            if not isinstance(event_id, str) or not event_id:
                fail(f"{path}:{number}: missing or empty \"id\"")
            if not isinstance(rep, str) or not rep:
                fail(f"{path}:{number}: missing or empty \"rep\"")
            if team is not None and not isinstance(team, str):
                fail(f"{path}:{number}: \"team\" must be a string")
            if kind not in KINDS:
                fail(f"{path}:{number}: unknown kind {kind!r} (known: {', '.join(KINDS)})")
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                fail(f"{path}:{number}: \"value\" must be a number")
            if isinstance(at_ms, bool) or not isinstance(at_ms, int):
                fail(f"{path}:{number}: \"at_ms\" must be an integer (milliseconds since 1970)")
            events.append((event_id, rep, team or None, kind, float(value), at_ms))
    if limit is not None and len(events) < limit:
        fail(f"--limit {limit} but {path} has only {len(events)} events")
    return events


def periods_of_day(day):
    """Period labels of every window for a UTC day number (days since 1970-01-01)."""
    date = EPOCH + datetime.timedelta(days=day)
    iso_year, iso_week, _ = date.isocalendar()
    return {
        "today": f"{date.year:04d}-{date.month:02d}-{date.day:02d}",
        "week": f"{iso_year:04d}-W{iso_week:02d}",
        "month": f"{date.year:04d}-{date.month:02d}",
        "quarter": f"{date.year:04d}-Q{(date.month - 1) // 3 + 1}",
        "year": f"{date.year:04d}",
        "all": "all",
    }


def library_version(leaderboard_class):
    """The installed distribution's version, or the one the class carries."""
    try:
        from importlib.metadata import version
        return version("leaderboard")
    except Exception:
        return getattr(leaderboard_class, "VERSION", "unknown")


def main(argv):
    args = parse_args(argv)
    options = redis_options(args.redis_url)

    try:
        import redis
        from leaderboard.leaderboard import Leaderboard
    except ImportError as error:
        fail(f"{error}: run this through scripts/bench-peer, which installs 'leaderboard' and 'redis<3'")
    if not redis.__version__.startswith("2."):
        fail(f"the leaderboard package needs redis<3, found redis {redis.__version__}")

    events = read_events(args.events, args.limit)

    # One probe leaderboard gives the connection (pool keyed by host, port, db) that every
    # Leaderboard made with the same options shares.
    probe = Leaderboard(PREFIX + "probe", **options)
    connection = probe.redis_connection
    try:
        connection.ping()
        if not args.keep_existing:
            stale = list(connection.scan_iter(match=PREFIX + "*", count=1000))
            for start in range(0, len(stale), 1000):
                connection.delete(*stale[start:start + 1000])
    except redis.RedisError as error:
        fail(f"Redis at {args.redis_url}: {error}")

    # kind -> [(metric name, points or None for the event's value)]
    rules_by_kind = {kind: [(name, weights[kind] if weights[kind] != "value" else None)
                            for name, weights in METRICS if kind in weights]
                     for kind in KINDS}
    boards = {}        # board key -> Leaderboard
    day_names = {}     # (day, metric, scope) -> [board key per window]
    board_updates = 0
    duplicates = 0

    def board_names(day, metric, scope):
        key = (day, metric, scope)
        names = day_names.get(key)
        if names is None:
            periods = periods_of_day(day)
            names = [f"{PREFIX}{metric}:{window}:{scope}:{periods[window]}" for window in WINDOWS]
            day_names[key] = names
        return names

    started = time.perf_counter()
    try:
        for event_id, rep, team, kind, value, at_ms in events:
            if not connection.set(PREFIX + "seen:" + event_id, 1, nx=True, ex=SEEN_TTL_SECONDS):
                duplicates += 1
                continue
            day = at_ms // MS_PER_DAY
            for metric, points in rules_by_kind[kind]:
                amount = value if points is None else points
                for scope, member in (("reps", rep), ("teams", team)):
                    if member is None:
                        continue
                    for name in board_names(day, metric, scope):
                        board = boards.get(name)
                        if board is None:
                            board = boards[name] = Leaderboard(name, **options)
                        board.change_score_for(member, amount)
                        board_updates += 1
    except redis.RedisError as error:
        fail(f"Redis at {args.redis_url} failed during the run: {error}")
    seconds = time.perf_counter() - started

    result = {
        "events": len(events),
        "seconds": round(seconds, 6),
        "events_per_second": round(len(events) / seconds, 1) if seconds > 0 else None,
        "board_updates": board_updates,
        "idempotency": True,
        "library": f"leaderboard {library_version(Leaderboard)}",
        "redis_py": redis.__version__,
        "duplicates": duplicates,
        "boards": len(boards),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except Failure as error:
        print(f"bench-peer: {error}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("bench-peer: interrupted", file=sys.stderr)
        sys.exit(1)
