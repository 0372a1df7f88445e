#!/usr/bin/env python3
"""Write a simulator scenario for scripts/bench.sh: one organization of N generated
members (seed 7, like scenario-100k.toml) plus a timeline that applies 1% churn once
the listing was requested twice, so a connector's third poll sees it:

  poll 1: first poll (SNAPSHOT of everyone), poll 2: no change, poll 3: 1% churn.

The churn mirrors benches/diff.rs: 0.25% of the members leave, 0.25% join, 0.25%
change their display name and 0.25% flip their admin flag, so N/100 events. The
members are picked evenly across the listing, never the first one (it owns the API
key: if it left, the key would get 401).

usage: churn.py LISTING.json COUNT OUT.toml   (LISTING: the simulator's answer to
GET /organizations/org-bench/users for the same COUNT and seed, without timeline)
"""
import json
import sys


def toml_str(s):
    return json.dumps(s)  # a JSON string literal is a valid TOML basic string


def main():
    listing_path, count, out_path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    with open(listing_path, encoding="utf-8") as f:
        members = json.load(f)
    if len(members) != count:
        sys.exit(f"churn.py: listing has {len(members)} members, expected {count}")
    per_kind = max(1, count // 400)
    picks = 3 * per_kind
    stride = (count - 1) // picks
    if stride < 1:
        sys.exit(f"churn.py: {count} members are too few for {picks} distinct picks")
    chosen = [members[1 + k * stride] for k in range(picks)]
    lines = [
        f'name = "bench-churn-{count}"',
        f'description = "{count} generated members; 1% churn before the third listing."',
        "",
        "[[organizations]]",
        'key = "org-bench"',
        'name = "Bench Corp"',
        'api_keys = ["sim-bench-key"]',
        f"generate = {{ count = {count}, seed = 7 }}",
        "",
        "[timeline]",
        "",
    ]

    def change(action):
        lines.extend(["[[timeline.changes]]", "after_requests = 2",
                      'org = "org-bench"', action, ""])

    for k, m in enumerate(chosen):
        key = toml_str(m["key"])
        kind = k % 3
        if kind == 0:
            change(f"leave = {key}")
        elif kind == 1:
            name = toml_str(f"Renamed Member {k}")
            change(f"profile = {{ key = {key}, displayName = {name} }}")
        else:
            admin = "false" if m.get("isOrgAdmin") else "true"
            change(f"set_admin = {{ key = {key}, admin = {admin} }}")
    for j in range(per_kind):
        key = f"bench-joiner-{j:06d}-0000000000000000000000000000"
        change(
            "join = { "
            f'key = "{key}", email = "joiner{j}@bench.example.com", '
            f'displayName = "Joiner {j}", firstName = "Joiner", lastName = "N{j}", '
            'isOrgAdmin = false, lastSeenTimestamp = "now", creationTimestamp = "now-1d" }'
        )
    with open(out_path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines))
    print(4 * per_kind)  # the events poll 3 must publish


if __name__ == "__main__":
    main()
