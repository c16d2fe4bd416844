#!/usr/bin/env bash
# Installs the Debian packages ViewBait uses when they are missing and this machine can install them:
# Noto fonts (the local renderer draws titles in every script, and emoji), Chromium (browser tests)
# and wrk (benchmarks). Never fails the build: without them the renderer falls back to DejaVu and
# browser tests skip.
set -u
want=()
[[ -e /usr/share/fonts/truetype/noto/NotoSans-Bold.ttf ]] || want+=(fonts-noto-core)
[[ -e /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf ]] || want+=(fonts-noto-color-emoji)
[[ -d /usr/share/fonts/opentype/noto ]] || want+=(fonts-noto-cjk)
[[ -x /usr/bin/chromium ]] || want+=(chromium)  # scripts/screenshots.py
# The browser tests' Chromium (tests/browser.py): the headless-only build, a fraction of the CPU.
[[ -x /usr/bin/chromium-headless-shell ]] || want+=(chromium-headless-shell)
command -v wrk >/dev/null || want+=(wrk)  # benchmarks/http_ratios.py's load generator
((${#want[@]})) || exit 0
if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
  echo "system-deps: cannot install ${want[*]} here (needs root and apt-get); continuing without them" >&2
  exit 0
fi
echo "system-deps: installing ${want[*]}"
export DEBIAN_FRONTEND=noninteractive
{ apt-get update -q && apt-get install -y -q --no-install-recommends "${want[@]}"; } >/tmp/viewbait-apt.log 2>&1 \
  || echo "system-deps: apt-get failed (see /tmp/viewbait-apt.log); continuing" >&2
exit 0
