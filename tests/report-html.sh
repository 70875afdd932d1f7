#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Each evidence pack's report.html in headless Chromium, driven through
# chromedriver's WebDriver protocol with curl (decision 0013): a state dir
# made with the built CLI, keys and decisions --offline, the pack, then in the
# browser: a title naming the period, the kind's h2 sections, a rendered
# inline SVG chart, in-page anchors that resolve, no script and nothing
# fetched, no SEVERE browser log entry. A full-page screenshot of each goes
# to $LK_BUILDDIR/tests/artifacts/report-KIND.png.
#
# Without chromium and chromedriver: SKIP (77), but with CI=true a missing
# browser fails (CI installs it through scripts/setup-deps.sh).
#
# Under make check-valgrind the script starts as valgrind's dash, whose own
# leaks in command substitutions fail them (exit 99) at random; it runs
# itself again through "sh", which check-valgrind does not trace, so nothing
# here is under memcheck: the generator's memory is check_report's and
# check_report_frameworks' to test, the browser's is not ours. Every planned
# exit goes through finish, which clears the EXIT trap first.
if [ -z "${LK_REPORT_HTML_REEXEC:-}" ]; then
	LK_REPORT_HTML_REEXEC=1
	export LK_REPORT_HTML_REEXEC
	exec sh "$0" "$@"
fi
set -eu
: "${LK_BUILDDIR:?run through make check}" "${LATCHKEY_BIN:?run through make check}"
: "${LK_APIKEY_PLUGIN_DIR:?run through make check}"

# One entry a report kind ("latchkey report KIND --from --to --out DIR");
# each needs its h2 sections in kind_sections below.
kinds="soc2 gdpr iso27001"

# kind_sections KIND: the h2 headings report.html must have, one a line.
kind_sections() {
	case $1 in
	soc2)
		printf '%s\n' "Control matrix" "System description" "Completeness and integrity" \
			"Decisions per day" "Exceptions register" "Queries used"
		;;
	gdpr)
		printf '%s\n' "System description" "Record of processing activities (GDPR Art. 30)" \
			"Completeness and integrity" "Exceptions register" "Queries used"
		;;
	iso27001)
		printf '%s\n' "Control matrix" "System description" "Completeness and integrity" \
			"Exceptions register" "Queries used"
		;;
	*) return 1 ;;
	esac
}

native() { sh -c 'exec "$@"' sh "$@"; }

tmp=
driver=
session=
url=
cleanup() {
	if [ -n "$session" ]; then
		native curl -sS --noproxy '*' --max-time 30 -X DELETE "$url/session/$session" \
			>/dev/null 2>&1 || true
		session=
	fi
	if [ -n "$driver" ]; then
		# chromedriver's /shutdown quits the browsers it started, even one
		# whose session we never learnt (a signal during POST /session),
		# then exits; SIGTERM would leave them. Up to 10 s, then SIGKILL:
		# never a wait that can hang.
		if [ -z "$url" ] || ! native curl -sS --noproxy '*' --max-time 30 "$url/shutdown" \
			>/dev/null 2>&1; then
			kill "$driver" 2>/dev/null || true
		fi
		i=0
		while [ -r "/proc/$driver/status" ] && [ "$i" -lt 100 ] &&
			! native grep -q '^State:[[:space:]]*Z' "/proc/$driver/status" 2>/dev/null; do
			native sleep 0.1
			i=$((i + 1))
		done
		kill -KILL "$driver" 2>/dev/null || true
		wait "$driver" 2>/dev/null || true
		driver=
	fi
	[ -z "$tmp" ] || native rm -rf "$tmp"
	tmp=
}
finish() {
	trap - EXIT INT TERM HUP PIPE
	cleanup
	exit "$1"
}
trap cleanup EXIT
trap 'finish 1' INT TERM HUP PIPE

fail() {
	echo "FAIL: $*" >&2
	finish 1
}
# A WebDriver request failed: what chromedriver saw last, too.
wd_fail() {
	if [ -n "$tmp" ] && [ -s "$tmp/chromedriver.log" ]; then
		echo "--- chromedriver.log (last lines)" >&2
		native tail -n 30 "$tmp/chromedriver.log" >&2
	fi
	fail "$@"
}
ok() { echo "ok: $*"; }

# The browser: Debian's launcher is a wrapper script around this binary.
chromium=${CHROMIUM:-}
if [ -z "$chromium" ]; then
	if [ -x /usr/lib/chromium/chromium ]; then
		chromium=/usr/lib/chromium/chromium
	else
		chromium=$(command -v chromium || command -v chromium-browser || true)
	fi
fi
chromedriver=${CHROMEDRIVER:-$(command -v chromedriver || true)}
if [ -z "$chromium" ] || [ ! -x "$chromium" ] || [ -z "$chromedriver" ] ||
	[ ! -x "$chromedriver" ] || ! command -v curl >/dev/null; then
	[ "${CI:-}" != true ] ||
		fail "CI=true and no chromium, chromedriver or curl (scripts/setup-deps.sh installs them)"
	echo "SKIP: chromium, chromedriver or curl not installed (scripts/setup-deps.sh)"
	finish 77
fi

tmp=$(native mktemp -d "${TMPDIR:-/tmp}/latchkey-report-html-XXXXXX") || fail "mktemp failed"
# The path goes into JSON and a file: URL as it is.
case $tmp in
*[!A-Za-z0-9/._-]*) echo "SKIP: temp dir $tmp needs quoting in a URL"; finish 77 ;;
esac
artifacts=$LK_BUILDDIR/tests/artifacts
native mkdir -p "$artifacts" || fail "mkdir $artifacts"

# wd METHOD PATH [BODY]: one WebDriver request; the reply goes to
# $tmp/reply. Fails on an HTTP error or a reply carrying "error".
wd() {
	wd_method=$1
	wd_path=$2
	shift 2
	[ $# -eq 0 ] || set -- -H 'Content-Type: application/json' --data-binary "$1"
	code=$(native curl -sS --noproxy '*' --max-time 120 -o "$tmp/reply" -w '%{http_code}' \
		-X "$wd_method" "$@" "$url$wd_path") || wd_fail "curl $wd_method $wd_path"
	if [ "$code" != 200 ] || native grep -q '^{"value":{"error":' "$tmp/reply"; then
		wd_fail "$wd_method $wd_path: HTTP $code: $(native head -c 600 "$tmp/reply")"
	fi
}

# A JSON string's contents from a file of text (backslashes and quotes
# escaped, lines joined: the scripts below have no // comments).
json_text() {
	native sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' "$1" | native tr '\t\n' '  '
}

# What the page says about itself, as NAME=VALUE lines joined with "|"
# (values limited to printable ASCII without " \ |, so the JSON reply needs
# no unescaping): the title, the h2 headings, each SVG element's rendered
# size, elements whose names kept a namespace prefix (an XML serialisation
# that the HTML parser does not turn into SVG), scripts, every attribute
# that would load something, anchors that resolve nowhere, CSS urls, the
# resources the page fetched, and its full size for the screenshot.
cat >"$tmp/facts.js" <<'EOF'
var S = 'http://www.w3.org/2000/svg', out = [], all = document.getElementsByTagName('*');
function t(s) {
	return String(s).replace(/\s+/g, ' ').trim().replace(/[^ -~]/g, '?').split('"').join('?')
		.split('\\').join('?').split('|').join('?');
}
out.push('title=' + t(document.title));
out.push('mode=' + document.compatMode);
out.push('ready=' + document.readyState);
Array.prototype.forEach.call(document.getElementsByTagName('h2'), function (h) {
	out.push('h2=' + t(h.textContent));
});
Array.prototype.forEach.call(document.getElementsByTagNameNS(S, 'svg'), function (s) {
	var r = s.getBoundingClientRect();
	out.push('svg=' + Math.round(r.width) + 'x' + Math.round(r.height));
});
var loads = ['src', 'href', 'srcset', 'data', 'action', 'formaction', 'poster', 'background',
	'manifest', 'ping', 'codebase', 'archive', 'lowsrc', 'dynsrc'];
Array.prototype.forEach.call(all, function (e) {
	if (e.localName.indexOf(':') >= 0)
		out.push('prefixed=' + t(e.localName));
	Array.prototype.forEach.call(e.attributes, function (a) {
		if (loads.indexOf(a.localName) < 0)
			return;
		var v = a.value.trim();
		if (v.charAt(0) !== '#')
			out.push('load=' + t(e.localName + ' ' + a.name + '=' + v));
		else if (v.length > 1 && !document.getElementById(decodeURIComponent(v.slice(1))))
			out.push('anchor=' + t(v));
	});
	if (e.hasAttribute('style') && /url\(|@import/i.test(e.getAttribute('style')))
		out.push('cssurl=' + t(e.localName + ' style'));
});
out.push('scripts=' + document.getElementsByTagName('script').length);
Array.prototype.forEach.call(document.querySelectorAll('iframe, object, embed, frame, link,'
		+ ' meta[http-equiv=refresh i], base'), function (e) {
	out.push('load=' + t(e.localName));
});
Array.prototype.forEach.call(document.getElementsByTagName('style'), function (s) {
	if (/url\(|@import/i.test(s.textContent))
		out.push('cssurl=style element');
});
performance.getEntriesByType('resource').forEach(function (r) {
	out.push('fetched=' + t(r.name));
});
out.push('width=' + document.documentElement.scrollWidth);
out.push('height=' + document.documentElement.scrollHeight);
return out.join('|');
EOF
facts_body="{\"script\":\"$(json_text "$tmp/facts.js")\",\"args\":[]}"
# What the browser draws around the viewport: "WIDTH HEIGHT".
frame_body='{"script":"return (outerWidth - innerWidth) + \" \" + (outerHeight - innerHeight)",'
frame_body="$frame_body\"args\":[]}"

# chromedriver on a free loopback port: --port=0 and the port it prints.
# Started as "sh -c exec" itself, not through the function: $! is then
# chromedriver's own pid (a backgrounded function is a subshell of ours,
# and killing it would leave chromedriver running).
: >"$tmp/chromedriver.out"
sh -c 'exec "$@"' sh "$chromedriver" --port=0 --log-path="$tmp/chromedriver.log" \
	>"$tmp/chromedriver.out" 2>&1 &
driver=$!
i=0
port=
while :; do
	port=$(native sed -n 's/.*started successfully on port \([0-9][0-9]*\).*/\1/p' \
		"$tmp/chromedriver.out")
	[ -z "$port" ] || break
	kill -0 "$driver" 2>/dev/null || fail "chromedriver exited: $(native cat "$tmp/chromedriver.out")"
	[ "$i" -lt 300 ] || fail "chromedriver did not start within 30 s"
	native sleep 0.1
	i=$((i + 1))
done
url=http://127.0.0.1:$port

# Headless, a throwaway profile, the browser's log kept. --no-sandbox: CI
# runs as root, where Chromium refuses its sandbox, and containers often
# lack the user namespaces it needs; the page is our own file with no script.
wd POST /session "$(printf '%s' '{"capabilities":{"alwaysMatch":{"browserName":"chrome",' \
	'"goog:loggingPrefs":{"browser":"ALL"},"goog:chromeOptions":{' \
	"\"binary\":\"$chromium\",\"args\":[\"--headless=new\",\"--no-sandbox\"," \
	'"--disable-gpu","--disable-dev-shm-usage","--no-first-run",' \
	"\"--user-data-dir=$tmp/profile\",\"--window-size=1280,900\"]}}}}")"
session=$(native sed -n 's/.*"sessionId":"\([^"]*\)".*/\1/p' "$tmp/reply")
[ -n "$session" ] || fail "no sessionId in $(native head -c 600 "$tmp/reply")"
ok "chromium $("$chromium" --version 2>/dev/null | native sed -n 's/^[^0-9]*\([0-9.]*\).*/\1/p')" \
	"headless through chromedriver on port $port"

# A state dir with keys and decisions of every kind the reports count:
# successes, a wrong secret, a revoked key, a malformed key.
state=$tmp/state
conf=$state/latchkey.conf
"$LATCHKEY_BIN" init --state-dir "$state" --plugin-dir "$LK_APIKEY_PLUGIN_DIR" >/dev/null ||
	fail "latchkey init"
printf '%s%s%s\n' '<policy xmlns="urn:latchkey:policy:1" service="web" environment="prod">' \
	'<stack><step plugin="apikey" control="required"/></stack>' \
	'<scopes><scope>web:read</scope></scopes></policy>' >"$state/policies/web.xml" ||
	fail "writing the policy"
native chmod 0644 "$state/policies/web.xml" || fail "chmod the policy"
from=$(native date -u +%Y-%m-%d)
issue() {
	"$LATCHKEY_BIN" -c "$conf" --offline key issue --owner "$1" --env prod --scope web:read \
		--expires 30d 2>/dev/null
}
# auth USER KEY WANT: one decision through the engine; WANT is 0 or 1.
auth() {
	st=0
	printf '%s\n' "$2" | "$LATCHKEY_BIN" -c "$conf" --offline auth web --user "$1" \
		--rhost 192.0.2.7 >/dev/null 2>&1 || st=$?
	[ "$st" -eq "$3" ] || fail "auth web as $1: exit $st, expected $3"
}
alice=$(issue alice) || fail "latchkey key issue"
bob=$(issue bob) || fail "latchkey key issue"
auth alice "$alice" 0
auth alice "$alice" 0
prefix=${alice%???????} # the last secret character and the 6-character CRC
tail=${alice#"$prefix"}
case $tail in
a*) auth alice "${prefix}b${tail#?}" 1 ;;
*) auth alice "${prefix}a${tail#?}" 1 ;;
esac
bobkid=${bob#lk_*_}
"$LATCHKEY_BIN" -c "$conf" --offline key revoke "${bobkid%%_*}" --reason "left" >/dev/null 2>&1 ||
	fail "latchkey key revoke"
auth bob "$bob" 1
auth alice "lk_prod_nonsense" 1
alice=
bob=
to=$(native date -u +%Y-%m-%d)

for kind in $kinds; do
	sections=$(kind_sections "$kind") || fail "kind_sections has no h2 list for '$kind'"
	pack=$tmp/pack-$kind
	"$LATCHKEY_BIN" -c "$conf" --offline report "$kind" --from "$from" --to "$to" \
		--out "$pack" >"$tmp/report-$kind.out" 2>&1 ||
		fail "latchkey report $kind: $(native cat "$tmp/report-$kind.out")"
	[ -s "$pack/report.html" ] || fail "$kind: no report.html in $pack"

	wd POST "/session/$session/url" "{\"url\":\"file://$pack/report.html\"}"
	wd POST "/session/$session/execute/sync" "$facts_body"
	native sed -n 's/^{"value":"\(.*\)"}$/\1/p' "$tmp/reply" | native tr '|' '\n' \
		>"$tmp/facts-$kind"
	[ -s "$tmp/facts-$kind" ] ||
		fail "$kind: no facts from the page: $(native head -c 600 "$tmp/reply")"
	fact() { native sed -n "s/^$1=//p" "$tmp/facts-$kind"; }
	problems() {
		native grep -E "^($1)=" "$tmp/facts-$kind" | native sort -u | native head -n 8 |
			native tr '\n' ';'
	}

	# The screenshot first, so that a failing page has one too. Full page:
	# a window whose viewport is the document's size (capped), then the
	# viewport's screenshot. The window's size includes what the browser
	# draws around the viewport, so that is asked for once it is set.
	w=$(fact width)
	h=$(fact height)
	[ "$w" -ge 1280 ] || w=1280
	[ "$h" -le 16000 ] || h=16000
	wd POST "/session/$session/window/rect" "{\"width\":$w,\"height\":$h}"
	wd POST "/session/$session/execute/sync" "$frame_body"
	# shellcheck disable=SC2046 # the two numbers, split
	set -- $(native sed -n 's/^{"value":"\([0-9]*\) \([0-9]*\)"}$/\1 \2/p' "$tmp/reply")
	[ $# -eq 2 ] || fail "$kind: the window's frame: $(native head -c 200 "$tmp/reply")"
	if [ "$1" -gt 0 ] || [ "$2" -gt 0 ]; then
		wd POST "/session/$session/window/rect" "{\"width\":$((w + $1)),\"height\":$((h + $2))}"
	fi
	wd GET "/session/$session/screenshot"
	png=$artifacts/report-$kind.png
	native sed -n 's/^{"value":"\([A-Za-z0-9+/=]*\)"}$/\1/p' "$tmp/reply" | native base64 -d \
		>"$png" || fail "$kind: decoding the screenshot"
	magic=$(native od -An -tx1 -N8 "$png" | native tr -d ' \n')
	[ "$magic" = 89504e470d0a1a0a ] || fail "$kind: $png is not a PNG ($magic)"
	# IHDR: width and height, big-endian, at bytes 16 and 20.
	# shellcheck disable=SC2046 # the eight numbers, split
	set -- $(native od -An -tu1 -j16 -N8 "$png")
	pw=$(($1 * 16777216 + $2 * 65536 + $3 * 256 + $4))
	ph=$(($5 * 16777216 + $6 * 65536 + $7 * 256 + $8))
	if [ "$pw" -eq 0 ] || [ "$ph" -lt "$h" ]; then
		fail "$kind: $png is ${pw}x$ph, not the whole page (${w}x$h)"
	fi
	ok "$kind: screenshot ${pw}x$ph (the page: $(fact width)x$(fact height)) in $png"

	[ "$(fact ready)" = complete ] || fail "$kind: document.readyState is $(fact ready)"
	[ "$(fact mode)" = CSS1Compat ] || fail "$kind: quirks mode ($(fact mode)): no DOCTYPE?"
	title=$(fact title)
	[ -n "$title" ] || fail "$kind: empty document.title"
	case $title in
	*"$from"*) ;;
	*) fail "$kind: the title does not name the period ($from): $title" ;;
	esac
	ok "$kind: title: $title"
	IFS='
'
	for h in $sections; do
		native grep -qxF "h2=$h" "$tmp/facts-$kind" ||
			fail "$kind: no h2 '$h'; the page's: $(fact h2 | native tr '\n' ';')"
	done
	IFS=' 	
'
	ok "$kind: h2 sections: $(printf '%s\n' "$sections" | native tr '\n' ';')"

	[ -z "$(problems prefixed)" ] ||
		fail "$kind: elements in the HTML namespace with a prefixed name (the HTML parser makes" \
			"no SVG of <svg:svg>; write <svg> unprefixed): $(problems prefixed)"
	svgs=$(fact svg)
	[ -n "$svgs" ] || fail "$kind: no SVG element in the rendered page"
	for s in $svgs; do
		case $s in
		0x* | *x0) fail "$kind: an SVG renders with zero size ($s)" ;;
		esac
	done
	ok "$kind: inline SVG rendered: $(printf '%s' "$svgs" | native tr '\n' ' ')"

	[ "$(fact scripts)" = 0 ] || fail "$kind: $(fact scripts) script elements"
	[ -z "$(problems 'load|cssurl|fetched')" ] ||
		fail "$kind: the page loads something: $(problems 'load|cssurl|fetched')"
	[ -z "$(problems anchor)" ] || fail "$kind: in-page links to no id: $(problems anchor)"
	ok "$kind: no script, nothing fetched, every in-page link resolves"

	# The browser's log since the last read (chromedriver empties it).
	wd POST "/session/$session/se/log" '{"type":"browser"}'
	if native grep -q '"level":"SEVERE"' "$tmp/reply"; then
		fail "$kind: SEVERE browser log entries: $(native head -c 1000 "$tmp/reply")"
	fi
	ok "$kind: no SEVERE browser log entry"

done

finish 0
