"""The AST policy: imports, names, attributes and dotted names, default and custom."""

from __future__ import annotations

import ast

import pytest
from azr_executor.azr.policy import STAR_IMPORTS, first_violation
from azr_proto.azr import Policy


def violation(source: str, policy: Policy | None = None) -> str | None:
    return first_violation(ast.parse(source), policy)


@pytest.mark.parametrize(
    "source",
    [
        "import os",
        "import os.path",  # the reference's dotted banned words never matched this
        "from os import path",
        "from os.path import join",
        "import os as o",
        "import sys",
        "import shutil",
        "import socket",
        "import ctypes",
        "import importlib",
        "import random",
        "from time import sleep",
        "import datetime as dt",
        "from . import sibling",
        "def f(x):\n    import subprocess\n    return x",
    ],
)
def test_default_policy_forbids_module(source):
    assert violation(source) is not None


@pytest.mark.parametrize(
    "source",
    [
        "__import__('os')",
        "eval('1')",
        "exec('x = 1')",
        "compile('1', 'a', 'eval')",
        "open('/etc/passwd')",
        "getattr(x, 'y')",
        "globals()",
        "().__class__.__bases__[0].__subclasses__()",
        "f.__globals__['os']",
        "(lambda: 0).__code__",
        "'{0.__globals__}'.format(f)",
        "x.gi_frame.f_back",
        # attribute reads not written as `x.a`, and modules handed around as values
        "match f:\n    case object(__globals__=g):\n        pass",
        "from copy import __dict__",
        "import copy\ncopy.__getstate__()",
        "import enum\nenum.bltns.open('x')",
        "from enum import bltns",
        "import dataclasses\ndataclasses._create_fn",
        "import dataclasses as d\nm = d\nm._create_fn",
        "import typing\ntyping.List['x'].__args__[0].__forward_code__",
        "from typing import *\nget_type_hints(f)",
        "import functools\nfunctools.singledispatch",
        "import string\nclass F(string.Formatter):\n    pass",
        "import traceback",
        "import codecs",
    ],
)
def test_default_policy_forbids_escape(source):
    assert violation(source) is not None


@pytest.mark.parametrize(
    "source",
    [
        "import math\nfrom collections import Counter, defaultdict\nimport re, heapq, itertools",
        "class Node:\n    def __init__(self, v):\n        self.v = v\n\ndef f(x):\n    return Node(x).v",
        "def parse_input(s):\n    return s\n\ndef f(x):\n    return parse_input(x)",
        "def f(x):\n    return type(x).__name__",
        "def f(s):\n    print(s)\n    return s",
        # what LLM-written programs use: annotations, dataclasses, super(), ABCs, __main__
        "from typing import List, Dict, Optional\nimport collections.abc\nimport math\n"
        "def f(x: List[int]) -> Optional[int]:\n"
        "    return math.floor(len(x)) if isinstance(x, collections.abc.Sized) else None",
        "from dataclasses import dataclass, field\n@dataclass\nclass P:\n    x: int\n"
        "    y: list = field(default_factory=list)\ndef f(x):\n    return P(x).x",
        "class A:\n    def __init__(self):\n        self.queue = []\nclass B(A):\n"
        "    def __init__(self):\n        super().__init__()\n        self.name = type(self).__name__",
        "import heapq, bisect, itertools, functools, re, string, statistics, fractions\n"
        "def f(x):\n    return string.ascii_lowercase[x] + str(functools.reduce(max, [1, x]))",
        "def f(x):\n    return x\nif __name__ == '__main__':\n    print(f(1))",
    ],
)
def test_default_policy_allows_ordinary_programs(source):
    assert violation(source) is None


def test_custom_policy_with_dotted_names():
    policy = Policy(
        allowed_modules=["*"],
        forbidden_modules=[],
        forbidden_names=[],
        forbidden_dotted=["os.path", "sys.exit"],
    )
    assert violation("import os\nos.getcwd()", policy) is None
    assert "os.path" in (violation("import os\nos.path.join('a')", policy) or "")
    assert "os.path" in (violation("import os as o\no.path", policy) or "")
    assert "os.path" in (violation("from os import path", policy) or "")
    assert "sys.exit" in (violation("from sys import exit as bye\nbye(0)", policy) or "")
    assert violation("import sys\nsys.version", policy) is None


def test_custom_policy_replaces_the_default():
    custom = Policy(allowed_modules=["*"], forbidden_modules=["json"])
    assert violation("import random", custom) is None
    assert violation("import json.decoder", custom) is not None


@pytest.mark.parametrize(
    "source",
    [
        # a forbidden module reached as another module's attribute (issue 22, class 9)
        "import contextlib\ncontextlib.os.getpid()",
        "import email.utils\nemail.utils.time.time()",
        "import queue\nqueue.time()",
        "import collections\ncollections._sys.modules",
        "import string\nm = string\nm.re._os",
        "import contextlib\n[contextlib][0].os",
        "from contextlib import os",
        "from queue import time as clock",
        "import _strptime",
        "import _thread",
        "from _random import Random",
        "from heapq import *\nfrom contextlib import *",
        # attribute access by string
        "import contextlib\ncontextlib.__dict__['os']",
        "import operator, contextlib\noperator.attrgetter('os')(contextlib)",
        "from operator import attrgetter",
        "from operator import methodcaller",
        "import string\nstring.Formatter().get_field('0.os', (x,), {})",
        "x.__getattr__('os')",
        "import timeit\ntimeit.default_timer()",
        "import sched",
        "import pydoc\npydoc.locate('os')",
    ],
)
def test_default_policy_forbids_reaching_a_module_through_another(source):
    assert violation(source) is not None, source


def test_star_imports_bind_no_module():
    import importlib
    import types

    for name in STAR_IMPORTS:
        namespace: dict = {}
        exec(f"from {name} import *", namespace)
        modules = [k for k, v in namespace.items() if isinstance(v, types.ModuleType)]
        assert modules == [], (name, modules)
        assert importlib.import_module(name)
    assert violation("from math import *\nfrom itertools import *") is None
