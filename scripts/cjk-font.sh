# Sourced by test.sh and demo.sh: a CJK font for the Chinese labels of `hotline report`'s charts
# (fonts-wqy-microhei, as the Dockerfile installs), installed when none is found and we may (root
# with apt-get).  Without one the charts fall back to English labels and codes, and say so.
_cjk_font=$(find /usr/share/fonts /usr/local/share/fonts "${HOME:-/nonexistent}/.fonts" \
    "${HOME:-/nonexistent}/.local/share/fonts" \( -iname '*wqy*' -o -iname '*cjk*' \
    -o -iname '*sourcehan*' -o -iname 'simhei*' -o -iname 'msyh*' \) -print -quit 2>/dev/null || true)
if [ -z "$_cjk_font" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        apt-get install -y -qq --no-install-recommends fonts-wqy-microhei >/dev/null 2>&1 \
            || { apt-get update -qq && apt-get install -y -qq --no-install-recommends fonts-wqy-microhei >/dev/null; } \
            || echo "note: fonts-wqy-microhei not installed: report charts will label problem types by code" >&2
    else
        echo "note: no CJK font (apt-get install fonts-wqy-microhei): report charts will use codes" >&2
    fi
fi
