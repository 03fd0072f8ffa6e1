#!/usr/bin/env bash
# What a new user does: clone, `npm ci` (strict: the lockfile must be complete and in sync),
# then the README's test command. Run by .ci/run on the commit being tested, in a temporary
# directory, so nothing of this checkout (node_modules, dist/, .rungate/, untracked files)
# can make it pass.
#   test/fresh-clone.sh [REF]    REF defaults to this checkout's HEAD
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
ref="${1:-HEAD}"
commit="$(git -C "$repo" rev-parse --verify "$ref^{commit}")"
if [ -n "$(git -C "$repo" status --porcelain --untracked-files=no)" ]; then
  echo "fresh clone: the checkout has uncommitted changes; they are not part of what is tested" >&2
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/rungate-fresh-clone.XXXXXX")"
trap 'rm -rf "$work"' EXIT
echo "fresh clone: $commit into $work" >&2
git clone --quiet --no-local --no-checkout "$repo" "$work/rungate"
cd "$work/rungate"
git checkout --quiet --detach "$commit"

# The README's two commands start from here; `npm ci` is the install.
npm ci --no-audit --no-fund
npm test
