# doxyfilter.awk - Doxygen's INPUT_FILTER for cio's public headers.
#
# The headers document everything in plain C comments; this turns them into
# Doxygen comments on the fly, so the headers stay plain:
#  - the comment that opens a header documents the file (@file);
#  - a comment directly above a declaration (no blank line in between)
#    documents it, and every further declaration that follows without a
#    blank line (one comment for cio_future_set_int, _set_ptr, ...);
#  - a comment after code on the same line documents that member or
#    declaration (/**< ... */);
#  - error.h: the X-macro table CIO_ERRNO_MAP becomes a plain enum, one
#    documented enumerator (its message) per code.
# A comment followed by a blank line (a section title) stays a plain one.
# POSIX awk (mawk, gawk, busybox).

{ L[++n] = $0 }

function is_decl_start(s) {
    if (s ~ /^#[ \t]*define[ \t]/)
        return 1
    if (s ~ /^#/ || s ~ /^[{}]/ || s ~ /^[ \t]/ || s ~ /^\/\*/ || s == "")
        return 0
    return s ~ /^[A-Za-z_]/
}

# The comment of lines a..b as one line of text, without its delimiters.
function flatten(a, b,    k, s, t) {
    s = ""
    for (k = a; k <= b; k++) {
        t = L[k]
        sub(/^[ \t]*\/\*+/, "", t)
        sub(/\*\/.*$/, "", t)
        sub(/^[ \t]*\*[ \t]?/, "", t)
        gsub(/^[ \t]+|[ \t]+$/, "", t)
        if (t != "")
            s = s (s == "" ? "" : " ") t
    }
    return s
}

END {
    seen_code = 0
    doc = ""            # the comment of the current run of declarations
    decls = 0           # declarations in that run so far
    # error.h's table
    nerr = 0
    for (i = 1; i <= n; i++) {
        if (L[i] ~ /^[ \t]*X\([A-Z]+, *-?[0-9]+, *"/) {
            s = L[i]
            sub(/^[ \t]*X\(/, "", s)
            name = s; sub(/,.*/, "", name)
            val = s; sub(/^[A-Z]+, */, "", val); sub(/,.*/, "", val)
            msg = s; sub(/^[^"]*"/, "", msg); sub(/".*$/, "", msg)
            nerr++; EN[nerr] = name; EV[nerr] = val; EM[nerr] = msg
        }
    }
    for (i = 1; i <= n; i++) {
        line = L[i]
        if (line ~ /^[ \t]*\/\*/ && line !~ /^[ \t]*\/\*\*/) {
            # a comment on lines of its own: i..j
            for (j = i; j <= n && index(L[j], "*/") == 0; j++)
                ;
            if (j > n) j = n
            if (!seen_code && i == 1) {
                sub(/\/\*/, "/** @file\n *", L[i])
            } else if (j < n && is_decl_start(L[j + 1]) || (j < n && L[j + 1] ~ /^#[ \t]*if/)) {
                sub(/\/\*/, "/**", L[i])
                doc = flatten(i, j)
                decls = 0
            } else {
                doc = ""
            }
            for (k = i; k <= j; k++)
                print L[k]
            i = j
            continue
        }
        if (line ~ /^[ \t]*$/)
            doc = ""
        if (line !~ /^[ \t]*$/)
            seen_code = 1
        if (line ~ /^[ \t]*CIO_ERRNO_MAP\(CIO__ERR_ENUM\)/) {
            for (k = 1; k <= nerr; k++)
                printf "    CIO_E%s = %s, /**< %s */\n", EN[k], EV[k], EM[k]
            continue
        }
        if (is_decl_start(line)) {
            decls++
            if (decls > 1 && doc != "")
                print "/** " doc " */"
        }
        if (line !~ /^[ \t]*#[ \t]*(if|ifdef|ifndef|else|elif|endif|include|undef)/ &&
            line ~ /[^ \t].*\/\*[^*]/) {
            p = index(line, "/*")
            line = substr(line, 1, p - 1) "/**<" substr(line, p + 2)
        }
        print line
    }
}
