#!/usr/bin/env bash
# `deno task test`: every test (unit, corpus, lab). A lab the tests brought up
# is taken down after them; a lab that was already up is left as it was.
cd "$(dirname "$0")/.."
lab_was_up=no
[[ -f /var/lib/drover-lab/inventory.yml ]] && lab_was_up=yes
# Not --quiet: the lab suites print the figures they measured (console.log).
deno test --allow-all "$@"
rc=$?
if [[ $lab_was_up == no ]]; then
  bash test/lab/lab.sh down >/dev/null 2>&1 || true
fi
exit $rc
