"""Tolerant recovery of generated text, and generated text is never executed."""
import ast
from pathlib import Path

import pytest

from leap_cli.program import ProgramError, parse_program, split_functions

ROOT = Path(__file__).resolve().parent.parent


def steps(p):
    return [(s["verb"], *s["objects"]) for s in p["steps"]]


def test_markdown_fences_and_prose_around_code():
    text = ('Sure! Here is the program:\n\n```python\ndef take_cup(start_t=0, stop_t=2):\n'
            '    # 1: get the cup\n    grasp("cup")\n```\n\nLet me know if you need more.\n')
    p = parse_program(text)
    assert steps(p) == [("grasp", "cup")]
    assert p["warnings"] == ["code taken from markdown fences"]


def test_prose_without_fences_is_ignored_and_counted():
    text = 'Here you go.\ndef f():\n    grasp("cup")\nThat is all.\nThanks\n'
    p = parse_program(text)
    assert steps(p) == [("grasp", "cup")]
    assert p["warnings"] == ["ignored 3 line(s) of text outside the functions"]


def test_unclosed_fence_of_a_truncated_response():
    p = parse_program('```python\ndef f():\n    grasp("cup")\n    release("cup")\n')
    assert steps(p) == [("grasp", "cup"), ("release", "cup")]


def test_tabs_mixed_with_spaces():
    p = parse_program('def f():\n\tif not in_hand("cup"):\n        grasp("cup")\n\tuse("cup")\n')
    assert steps(p) == [("grasp", "cup"), ("use", "cup")]
    assert p["warnings"] == ["tabs mixed with spaces: tabs read as 4 spaces"]


def test_truncated_last_function_of_a_batch():
    text = ('def a(start_t=0, stop_t=1):\n    grasp("cup")\n    release("cup")\n\n'
            'def b(start_t=0, stop_t=2):\n    grasp("knife")\n    use("knife", "carr')
    assert steps(parse_program(text, "a")) == [("grasp", "cup"), ("release", "cup")]
    assert parse_program(text, "a")["warnings"] == []
    p = parse_program(text, "b")
    assert steps(p) == [("grasp", "knife")]
    assert p["warnings"] == ["dropped unparsable line 7: 'use(\"knife\", \"carr'"]


def test_truncated_block_header_at_the_end():
    p = parse_program('def f():\n    grasp("cup")\n    if not is_open("fridge"):\n')
    assert steps(p) == [("grasp", "cup")]
    assert p["warnings"] == ["dropped unparsable line 3: 'if not is_open(\"fridge\"):'"]


def test_broken_function_among_others_only_breaks_itself():
    text = 'def a():\n    grasp("cup")\ndef b():\n    ))))\n    ((((\ndef c():\n    goto("sink")\n'
    assert steps(parse_program(text, "c")) == [("goto", "sink")]
    with pytest.raises(ProgramError, match=r"^function 'b' is not recoverable Python \(no statement under the def line\)$"):
        parse_program(text, "b")


def test_unquoted_names_and_multi_word_names():
    p = parse_program('def f():\n    if not in_hand(cucumber):\n        grasp(chopping board)\n'
                      '        use(cucumber, faucet)\n')
    assert steps(p) == [("grasp", "board:chopping"), ("use", "cucumber", "tap")]
    assert p["warnings"] == [
        "quoted multi-word object names (line 3)",
        "unquoted object name 'cucumber' read as a string (line 2)",
        "unquoted object name 'faucet' read as a string (line 4)",
    ]


def test_missing_colon_and_bad_indentation():
    p = parse_program('def f():\n    if not in_hand("cup")\n        grasp("cup")\n      use("cup")\n   release("cup")\n')
    assert steps(p) == [("grasp", "cup"), ("use", "cup"), ("release", "cup")]
    assert p["warnings"] == ["added a missing ':' (line 2)", "re-indented line 4", "re-indented line 5"]


def test_prose_line_inside_a_function_is_dropped():
    p = parse_program('def f():\n    Step one: get the knife.\n    grasp("knife")\n')
    assert steps(p) == [("grasp", "knife")]
    assert p["warnings"] == ["dropped unparsable line 2: 'Step one: get the knife.'"]


def test_unknown_verbs_and_predicates():
    p = parse_program('def f():\n    pick_up("cup")\n    cut("knife", "onion")\n    frobnicate("x")\n'
                      '    if is_hot("pan") and is_closed("fridge"):\n        grasp("fridge")\n'
                      '    in_hand("cup")\n')
    assert steps(p) == [("grasp", "cup"), ("use", "knife", "onion"), ("grasp", "fridge")]
    assert p["tokens"][2][1] == ["and", [["is_hot", ["pan"]], ["not", ["is_open", ["fridge"]]]]]
    assert p["precondition_sentence"] == "if pan hot and if fridge not open"
    assert p["warnings"] == [
        "verb 'pick_up' read as grasp (line 2)",
        "verb 'cut' read as use (line 3)",
        "dropped unknown verb 'frobnicate' used as a sub-action (line 4)",
        "unknown predicate 'is_hot' kept (line 5)",
        "predicate 'is_closed' read as not is_open (line 5)",
        "dropped predicate 'in_hand' used as a sub-action (line 7)",
    ]


def test_conditions_that_are_not_predicates_keep_their_block():
    p = parse_program('def f():\n    if t > 2.0:\n        grasp("cup")\n    for i in range(3):\n        use("cup")\n'
                      '    x = 3\n    assert 1 + 1\n')
    assert steps(p) == [("grasp", "cup"), ("use", "cup")]
    assert p["tokens"] == [["grasp", ["cup"]], ["use", ["cup"]]]
    assert p["warnings"] == [
        "if condition 't > 2.0' not understood: its block is kept without it (line 2)",
        "for block read as its body, once (line 4)",
        "dropped assign statement (line 6)",
        "dropped assert '1 + 1': not a condition (line 7)",
    ]


def test_arguments_that_are_not_objects():
    p = parse_program('def f():\n    grasp("cup", 2.5)\n    grasp()\n    move("cup", dest="sink")\n    use(a.b)\n')
    assert steps(p) == [("grasp", "cup"), ("move", "cup", "sink"), ("use", "a_b")]
    assert p["warnings"] == [
        "dropped argument '2.5' of grasp (line 2)",
        "dropped grasp() without an object (line 3)",
        "object 'a.b' read as 'a_b' (line 5)",
    ]
    assert p["unmapped"] == ["a_b"]
    assert p["violations"] == [{"step": 2, "verb": "use", "reason": "a_b is not held (never held before)",
                              "kind": "never-held"}]


def test_body_without_def_line():
    p = parse_program('grasp("cup")\nrelease("cup")\n', "take_cup")
    assert p["name"] == "take_cup"
    assert steps(p) == [("grasp", "cup"), ("release", "cup")]
    assert p["warnings"] == ["no def line: the code was read as a function body"]


def test_function_choice_in_a_batch():
    text = 'def take_cup_2():\n    grasp("cup")\ndef open_fridge():\n    grasp("fridge")\n'
    assert parse_program(text, "open_fridge")["name"] == "open_fridge"
    p = parse_program(text, "take_cup")
    assert p["name"] == "take_cup_2"
    assert p["warnings"] == ["function 'take_cup_2' read as 'take_cup'"]
    with pytest.raises(ProgramError, match=r"^no function named 'close_door' in the response \(it has take_cup_2, open_fridge\)$"):
        parse_program(text, "close_door")
    p = parse_program(text)
    assert p["name"] == "take_cup_2"
    assert p["warnings"] == ["the response has 2 functions; read the first, 'take_cup_2'"]
    single = parse_program('def something_else():\n    grasp("cup")\n', "take_cup")
    assert single["warnings"] == ["no function named 'take_cup'; read the only one, 'something_else'"]


@pytest.mark.parametrize("text,message", [
    ("", "no function definition and no sub-action call in the text"),
    ("I cannot help with that.", "no function definition and no sub-action call in the text"),
    ("def f():\n    pass\n", "function 'f': no sub-actions recovered"),
    ("def f():\n    # nothing here\n", "function 'f' is not recoverable Python (no statement under the def line)"),
    ("def f():\n    frob('x')\n", "function 'f': no sub-actions recovered (dropped unknown verb 'frob' used as a sub-action (line 2))"),
])
def test_nothing_recoverable_is_an_error(text, message):
    with pytest.raises(ProgramError) as e:
        parse_program(text)
    assert str(e.value) == message


def test_split_functions():
    text = ('Here:\n```python\ndef a(start_t=0, stop_t=1):\n    grasp("x")\n\n    # done\n'
            'def b():\n    release("x")\n```\n')
    assert split_functions(text) == {"a": 'def a(start_t=0, stop_t=1):\n    grasp("x")\n',
                                     "b": 'def b():\n    release("x")\n'}
    indented = '    def a():\n        grasp("x")\n    def b():\n        use("x")\n'
    assert split_functions(indented) == {"a": 'def a():\n    grasp("x")\n', "b": 'def b():\n    use("x")\n'}


# generated text is data ------------------------------------------------------------------------
PAYLOADS = [
    "def f():\n    __import__('os').system('touch {x}')\n    grasp('cup')\n",
    "def f():\n    grasp(__import__('os').system('touch {x}'))\n    grasp('cup')\n",
    "def f():\n    eval(\"__import__('os').system('touch {x}')\")\n    grasp('cup')\n",
    "def f():\n    exec(\"open('{x}', 'w')\")\n    grasp('cup')\n",
    "import os\nos.system('touch {x}')\ndef f():\n    grasp('cup')\n    open('{x}', 'w')\n",
    "def f(a=__import__('os').system('touch {x}')):\n    grasp('cup')\n",
    "@__import__('os').system('touch {x}')\ndef f():\n    grasp('cup')\n",
    "def f():\n    if __import__('os').system('touch {x}'):\n        grasp('cup')\n",
    "grasp('cup')\n__import__('os')._exit(3)\n",
]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_generated_code_is_never_executed(tmp_path, payload):
    marker = tmp_path / "X"
    p = parse_program(payload.format(x=marker))
    assert steps(p)[0] == ("grasp", "cup")
    assert not marker.exists()


def test_program_package_has_no_eval_exec_compile_or_import_of_text():
    files = sorted((ROOT / "leap_cli" / "program").glob("*.py")) + [ROOT / "leap_cli" / "commands" / "parse.py"]
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                f = node.func
                if isinstance(f, ast.Name):  # the builtins
                    assert f.id not in {"eval", "exec", "compile", "__import__"}, f"{path.name}:{node.lineno}"
                if isinstance(f, ast.Attribute):
                    assert f.attr not in {"import_module", "__import__", "literal_eval"}, f"{path.name}:{node.lineno}"


def test_numbered_stub_names_answered_without_their_numbers():
    text = 'def take_cup():\n    grasp("cup")\ndef take_cup():\n    grasp("mug")\n    release("mug")\n'
    assert steps(parse_program(text, "take_cup")) == [("grasp", "cup")]
    p = parse_program(text, "take_cup_2")
    assert steps(p) == [("grasp", "cup"), ("release", "cup")]  # mug is an instance of cup
    assert p["warnings"] == ["function 'take_cup' read as 'take_cup_2'",
                             "2 functions named like 'take_cup_2'; read number 2"]
    one = parse_program('def take_cup_3():\n    grasp("cup")\n', "take_cup")
    assert one["warnings"] == ["function 'take_cup_3' read as 'take_cup'"]
    # A third stub, answered by neither of two take_cup: no guess (it was the first one's program).
    with pytest.raises(ProgramError, match=r"^no function named 'take_cup_3' in the response \(it has take_cup, take_cup\)$"):
        parse_program(text, "take_cup_3")
