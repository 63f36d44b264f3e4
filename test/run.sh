#!/usr/bin/env bash
# `deno task test`: every test (unit, corpus, lab), then the lab is taken down.
cd "$(dirname "$0")/.."
deno test --allow-all --quiet "$@"
rc=$?
bash test/lab/lab.sh down >/dev/null 2>&1 || true
exit $rc
