"""Readable numbers: counts with K/M/B/T and bytes in decimal (SI) units.

Pure Python (``decimal`` only); imports nothing else of convtool.
"""

from __future__ import annotations

from decimal import Decimal, localcontext


def _three_digits(n: int, units: tuple[tuple[int, str], ...], sep: str) -> str:
    for exp, suffix in units:
        if n >= 10**exp:
            value = Decimal(n) / Decimal(10**exp)
            digits = 2 if value < 10 else 1 if value < 100 else 0
            text = f"{value:.{digits}f}"
            if text == "1000" and exp != units[0][0]:  # 999.5 K rounds up to the next unit
                return _three_digits(10 ** (exp + 3), units, sep)
            return f"{text}{sep}{suffix}"
    return str(n)


def human_count(n: int) -> str:
    """Three significant digits with K, M, B (10^9), T (10^12); exact below 1000.

    Examples
    --------
    >>> human_count(9), human_count(448), human_count(21676032), human_count(10**9)
    ('9', '448', '21.7 M', '1.00 B')
    >>> human_count(999_999), human_count(12 * 10**18)
    ('1.00 M', '1.20e+19')
    """
    if n >= 10**15:
        return f"{Decimal(n):.2e}".replace("E", "e")
    return _three_digits(n, ((12, "T"), (9, "B"), (6, "M"), (3, "K")), " ")


def exact_ratio(num: int, den: int) -> int | Decimal:
    """``num / den`` without binary rounding: an int when it divides, else 4 decimals.

    Plain text and JSON print counts as exact integers; a float ratio of two such counts would
    print as ``1e+19`` and lose digits.

    Examples
    --------
    >>> exact_ratio(1332, 10), exact_ratio(360, 10), exact_ratio(100000000010000000000, 10)
    (Decimal('133.2'), 36, 10000000001000000000)
    >>> exact_ratio(2, 3)
    Decimal('0.6667')
    >>> exact_ratio(2**93, 3)  # more digits than decimal's default 28
    Decimal('3301173438094347399730997930.6667')
    """
    if num % den == 0:
        return num // den
    whole = len(str(num // den))
    with localcontext() as ctx:  # digits for the whole part and 4 decimals (default: 28)
        ctx.prec = max(ctx.prec, whole + 8)
        value = Decimal(num) / Decimal(den)
        return value.quantize(Decimal("0.0001")).normalize()


def human_bytes(n: int) -> str:
    """Decimal (SI) byte units: kB = 10^3, MB = 10^6, GB = 10^9 bytes (not GiB).

    Examples
    --------
    >>> human_bytes(36), human_bytes(4_000_004_000), human_bytes(1792)
    ('36 bytes', '4.00 GB', '1.79 kB')
    """
    if n < 1000:
        return f"{n} bytes"
    if n >= 10**21:
        return f"{Decimal(n):.2e} bytes".replace("E", "e")
    units = ((18, "EB"), (15, "PB"), (12, "TB"), (9, "GB"), (6, "MB"), (3, "kB"))
    return _three_digits(n, units, " ")
