"""Network indicators in text: URLs, domains, IPv4 addresses and e-mail addresses.

Domains come from URL hosts and e-mail addresses, plus bare host names (``www.example.com``) whose last label
is in ``BARE_DOMAIN_TLDS``. That list leaves out TLDs that are also common file extensions (``.py``, ``.sh``,
``.so``, ``.pl``, ``.exe`` ...) so ``main.py`` or ``msvcrt.dll`` are not reported as domains, and it skips
bare names with capitals unless they start with ``www.``, so .NET namespaces (``System.IO``) are not domains.
IPv4 addresses are any valid dotted quad, so version strings such as ``1.0.0.0`` are reported too.
"""

from __future__ import annotations

import ipaddress
import re
from collections import Counter
from collections.abc import Iterable
from urllib.parse import urlsplit

# No leading word boundary: strings from binaries often carry a junk first character ("9http://...").
URL = re.compile(r"(?:https?|ftp)://[^\s\"'<>`{}|\\^\[\]]+", re.IGNORECASE)
EMAIL = re.compile(r"\b[A-Za-z0-9._%+-]{1,64}@(?:[A-Za-z0-9-]{1,63}\.)+[A-Za-z]{2,24}\b")
IPV4 = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.])")
LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
DOMAIN = re.compile(rf"(?<![\w.@-])(?:{LABEL}\.)+[A-Za-z]{{2,24}}(?![\w@-])")
URL_TRAILING_JUNK = ".,;:!?)'\""

BARE_DOMAIN_TLDS = frozenset(
    "com net org info biz edu gov mil int io co us uk de ru cn jp fr it nl br in kr tw hk au ca ch se no "
    "fi dk pl es be at cz hu ro ua kz ir tr gr pt il za mx ar cl nz sg my th vn id ph su eu asia xyz top "
    "online site club tk ml ga cf gq cc ws me tv to ly".split()
)
# Left out on purpose although they are real TLDs, as they are more often file extensions in binaries:
# py sh so pl rs md js cs hs ps db vb am ai zip mov exe.


def _host(url: str) -> str | None:
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return None
    return host.lower() if host else None


def _is_ipv4(text: str) -> bool:
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return False
    return True


def _plausible_bare_domain(name: str) -> bool:
    tld = name.rsplit(".", 1)[1].lower()
    if tld not in BARE_DOMAIN_TLDS:
        return False
    return name.islower() or name.lower().startswith("www.")


def extract(texts: Iterable[str]) -> dict[str, Counter]:
    """Count URLs, domains, IPv4 addresses and e-mails (lowercased domains and e-mails) over ``texts``."""
    found: dict[str, Counter] = {kind: Counter() for kind in ("urls", "domains", "ipv4", "emails")}
    for text in texts:
        for match in URL.findall(text):
            url = match.rstrip(URL_TRAILING_JUNK)
            found["urls"][url] += 1
            host = _host(url)
            if host and DOMAIN.fullmatch(host) and not _is_ipv4(host):
                found["domains"][host] += 1
        for email in EMAIL.findall(text):
            found["emails"][email.lower()] += 1
            found["domains"][email.rsplit("@", 1)[1].lower()] += 1
        for ip in IPV4.findall(text):
            if _is_ipv4(ip):
                found["ipv4"][ip] += 1
        without_urls = EMAIL.sub(" ", URL.sub(" ", text))
        for domain in DOMAIN.findall(without_urls):
            if _plausible_bare_domain(domain):
                found["domains"][domain.lower()] += 1
    return found


def as_sorted_list(counts: Counter) -> list[dict]:
    """``[{'value', 'count'}]`` sorted by value: list entries, not dict keys, since values hold dots."""
    return [{"value": value, "count": counts[value]} for value in sorted(counts)]
