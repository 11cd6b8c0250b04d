"""The `{name:id}` path convertor: row ids the database can hold, else no route (404).

Starlette's `int` convertor takes any run of digits, and an id past what the column holds then
reached the database: SQLite cannot bind one past 64 bits, PostgreSQL refuses one past its
32-bit INTEGER (a 500 on /collections/99999999999999999999). Ids are INTEGER columns on both,
so the convertor matches 0 to 2**31 - 1 exactly; a larger number names nothing.
"""

from __future__ import annotations

from starlette.convertors import Convertor, register_url_convertor

ID_MAX = 2**31 - 1  # 2147483647, written digit by digit below
_UP_TO_ID_MAX = "|".join(
    [
        "[0-9]{1,9}",
        "1[0-9]{9}",
        "20[0-9]{8}",
        "21[0-3][0-9]{7}",
        "214[0-6][0-9]{6}",
        "2147[0-3][0-9]{5}",
        "21474[0-7][0-9]{4}",
        "214748[0-2][0-9]{3}",
        "2147483[0-5][0-9]{2}",
        "21474836[0-3][0-9]",
        "214748364[0-7]",
    ]
)


class RowIdConvertor(Convertor[int]):
    regex = f"(?:{_UP_TO_ID_MAX})"

    def convert(self, value: str) -> int:
        return int(value)

    def to_string(self, value: int) -> str:
        return str(value)


def valid_id(value: int) -> bool:
    """Whether a row id from a form or body can name a row at all."""
    return 0 <= value <= ID_MAX


register_url_convertor("id", RowIdConvertor())
