# Turns the directive table of README.md's "Configuration reference" section into man(7)
# .TP entries (for herald.conf.5). Cells: directive | context | default | meaning.
# Markdown handled: `code` -> bold, *word* -> italic, \| -> |.
# Usage: awk -f pkg/man/readme2man.awk README.md
function roff(s) {
    gsub(/\\/, "\\e", s)          # after this, every backslash we add is roff's own
    gsub(/-/, "\\-", s)
    return s
}
function inline(s,    out, at, len) {
    out = ""
    while (match(s, /`[^`]*`/)) {
        at = RSTART; len = RLENGTH  # italic() calls match() too
        out = out italic(roff(substr(s, 1, at - 1))) "\\fB" roff(substr(s, at + 1, len - 2)) "\\fR"
        s = substr(s, at + len)
    }
    return out italic(roff(s))
}
function italic(s,    out) {
    out = ""
    while (match(s, /\*[a-z]+\*/)) {
        out = out substr(s, 1, RSTART - 1) "\\fI" substr(s, RSTART + 1, RLENGTH - 2) "\\fR"
        s = substr(s, RSTART + RLENGTH)
    }
    return out s
}
function trim(s) { sub(/^[ \t]+/, "", s); sub(/[ \t]+$/, "", s); return s }
/^## Configuration reference/ { section = 1; next }
/^## / { section = 0 }
section && /^\| *`/ {
    line = $0
    gsub(/\\\|/, "\001", line)
    n = split(line, cell, "|")
    if (n < 6) next
    for (i = 2; i <= 5; i++) { cell[i] = trim(cell[i]); gsub(/\001/, "|", cell[i]) }
    print ".TP"
    print "\\&" inline(cell[2])
    ctx = "Context: " cell[3] "."
    if (cell[4] != "") ctx = ctx " Default: " cell[4] "."
    print "\\&" inline(ctx)
    if (cell[5] != "") { print ".br"; print "\\&" inline(cell[5]) }
    rows++
}
END { if (rows < 10) { print "readme2man.awk: directive table not found" > "/dev/stderr"; exit 1 } }
