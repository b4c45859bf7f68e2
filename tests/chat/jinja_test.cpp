// Tests of the Jinja interpreter: each construct against what jinja2 renders (in Hugging Face's
// environment: ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks, loopcontrols, HF's
// tojson), error messages with their positions, unsupported constructs, and the limits that
// keep hostile templates from exhausting the stack, time or memory.
// The expected texts of the table were produced by jinja2 3.1 (see
// tests/fixtures/chat/make_renders.py for the environment).
#include "genarm/chat/jinja.hpp"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "test_support.hpp"

namespace genarm::chat {
namespace {

using nlohmann::ordered_json;

std::string render(std::string_view source, const ordered_json& context = ordered_json::object(),
                   const RenderOptions& options = {}) {
  return JinjaTemplate(source).render(context, options);
}

struct Case {
  const char* source;
  const char* context;  // JSON object
  const char* expected;
};

// Each row: a template, its variables, and jinja2's output.
const Case kCases[] = {
    // literals and printing
    {R"J({{ 'single' }} {{ "double" }} {{ 'a' 'b' }} {{ 42 }} {{ -7 }} {{ 1_000 }} {{ 0x1F }} {{ 1.5 }} {{ 1e3 }} {{ true }} {{ False }} {{ none }} {{ None }})J", R"J({})J",
     R"J(single double ab 42 -7 1000 31 1.5 1000.0 True False None None)J"},
    {R"J({{ [1, 'a', none, true, 1.5] }} {{ {'k': 'v', 'n': [1]} }} {{ (1,) }} {{ (1, 2) }} {{ () }} {{ [] }} {{ {} }})J", R"J({})J",
     R"J([1, 'a', None, True, 1.5] {'k': 'v', 'n': [1]} (1,) (1, 2) () [] {})J"},
    {R"J({{ 1.0 }} {{ 1e16 }} {{ 1e-5 }} {{ 0.1 + 0.2 }} {{ 10 / 4 }} {{ 4 / 2 }} {{ -0.0 }} {{ 123456789.123 }})J", R"J({})J",
     R"J(1.0 1e+16 1e-05 0.30000000000000004 2.5 2.0 -0.0 123456789.123)J"},
    {R"J({{ '\t|\x41|\u00e9|\101|\\|\'' }} {{ ["it's", 'q"', 'a\nb', '\x01'] }})J", R"J({})J",
     R"J(	|A|é|A|\|' ["it's", 'q"', 'a\nb', '\x01'])J"},
    {R"J({{ undefined_name }}|{{ x.missing }}|{{ x['missing'] }}|{{ y[5] }})J", R"J({"x": {}, "y": [1]})J",
     R"J(|||)J"},
    // arithmetic
    {R"J({{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % -3 }} {{ -7 % 3 }} {{ 2 ** 10 }} {{ 2 ** -1 }} {{ 3.5 // 1 }} {{ -5.5 % 2 }} {{ 1.5 * 2 }} {{ true + 1 }})J", R"J({})J",
     R"J(3 -4 -2 2 1024 0.5 3.0 0.5 3.0 2)J"},
    {R"J({{ 'ab' * 3 }} {{ 3 * [0] }} {{ [1, 2] + [3] }} {{ (1,) + (2,) }} {{ 'a' ~ 1 ~ none ~ [2] }} {{ 'x' * 0 }}|{{ -(3) }} {{ +3 }})J", R"J({})J",
     R"J(ababab [0, 0, 0] [1, 2, 3] (1, 2) a1None[2] |-3 3)J"},
    // comparisons and logic
    {R"J({{ 1 == 1.0 }} {{ 'a' < 'b' }} {{ [1, 2] < [1, 3] }} {{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }} {{ 2 >= 2 }} {{ [1] == (1,) }} {{ {'a': 1, 'b': 2} == {'b': 2, 'a': 1} }})J", R"J({})J",
     R"J(True True True True False True False True)J"},
    {R"J({{ 'ab' in 'cabd' }} {{ 3 not in [1, 2] }} {{ 'k' in {'k': 1} }} {{ x in none if false else 'n/a' }} {{ 'a' in x }})J", R"J({})J",
     R"J(True True True n/a False)J"},
    {R"J({{ x or 'default' }} {{ x and 'yes' }}|{{ 0 or none }}|{{ [] or {} }} {{ not 0 }} {{ not not 'a' }} {{ 'a' if x else 'b' if y else 'c' }})J", R"J({"y": 1})J",
     R"J(default |None|{} True True b)J"},
    // conditionals
    {R"J({% if x %}a{% elif y %}b{% else %}c{% endif %}{% if true %}d{% endif %}{% if false %}e{% endif %})J", R"J({"y": 1})J",
     R"J(bd)J"},
    {R"J({{ 'x' if true else 'y' }} {{ 'x' if false else 'y' }} [{{ 'x' if false }}])J", R"J({})J",
     R"J(x y [])J"},
    // for loops
    {R"J({% for m in messages %}{{ loop.index0 }}/{{ loop.index }}/{{ loop.revindex0 }}/{{ loop.revindex }}/{{ loop.first }}/{{ loop.last }}/{{ loop.length }}:{{ m.role }} {% endfor %})J", R"J({"messages": [{"role": "system"}, {"role": "user"}, {"role": "assistant"}]})J",
     R"J(0/1/2/3/True/False/3:system 1/2/1/2/False/False/3:user 2/3/0/1/False/True/3:assistant )J"},
    {R"J({% for x in [1, 2, 3] %}{{ loop.previtem }}-{{ loop.nextitem }}|{{ loop.cycle('a', 'b') }} {% endfor %})J", R"J({})J",
     R"J(-2|a 1-3|b 2-|a )J"},
    {R"J({% for m in messages if m.role != 'system' %}{{ loop.index }}={{ m['role'] }}/{{ loop.length }};{% endfor %})J", R"J({"messages": [{"role": "system"}, {"role": "user"}, {"role": "assistant"}]})J",
     R"J(1=user/2;2=assistant/2;)J"},
    {R"J({% for x in [] %}x{% else %}empty{% endfor %} {% for x in [0] if x %}x{% else %}filtered{% endfor %})J", R"J({})J",
     R"J(empty filtered)J"},
    {R"J({% for k, v in {'a': 1, 'b': 2}.items() %}{{ k }}={{ v }},{% endfor %} {% for k in {'x': 1, 'y': 2} %}{{ k }}{% endfor %} {% for c in 'héllo' %}[{{ c }}]{% endfor %})J", R"J({})J",
     R"J(a=1,b=2, xy [h][é][l][l][o])J"},
    {R"J({% for a, (b, c) in [[1, [2, 3]], [4, [5, 6]]] %}{{ a + b + c }} {% endfor %})J", R"J({})J",
     R"J(6 15 )J"},
    {R"J({% for x in range(10) %}{% if x == 2 %}{% continue %}{% endif %}{% if x > 4 %}{% break %}{% endif %}{{ x }}{% endfor %})J", R"J({})J",
     R"J(0134)J"},
    {R"J({% for i in [1, 2] %}{% for j in [3, 4] %}{{ loop.index }}{{ i }}{{ j }} {% endfor %}{{ loop.index }}|{% endfor %})J", R"J({})J",
     R"J(113 214 1|123 224 2|)J"},
    {R"J({% for x in [1, 1, 2, 2, 1] %}{{ loop.changed(x) }} {% endfor %})J", R"J({})J",
     R"J(True False True False True )J"},
    // scoping
    {R"J({% set count = 0 %}{% for i in range(3) %}{% set count = count + 1 %}{{ count }}{% endfor %}|{{ count }})J", R"J({})J",
     R"J(111|0)J"},
    {R"J({% set x = 1 %}{% for i in [1] %}{{ x }}{% set x = 2 %}{{ x }}{% endfor %}{{ x }}|{% if true %}{% set y = 3 %}{% endif %}{{ y }})J", R"J({})J",
     R"J(121|3)J"},
    {R"J({% for i in [1, 2] %}{% if i == 2 %}[{{ seen }}]{% endif %}{% set seen = i %}{% endfor %})J", R"J({})J",
     R"J([])J"},
    {R"J({% set ns = namespace(found=false, n=0, items=[]) %}{% for r in ['a', 'user', 'b'] %}{% if r == 'user' %}{% set ns.found = true %}{% endif %}{% set ns.n = ns.n + 1 %}{% set ns.items = ns.items + [r] %}{% endfor %}{{ ns.found }} {{ ns.n }} {{ ns.items }} {{ ns.missing }}|)J", R"J({})J",
     R"J(True 3 ['a', 'user', 'b'] |)J"},
    // set
    {R"J({% set a, b = 1, 2 %}{{ a }}{{ b }}{% set t = (3, 4) %}{% set c, d = t %}{{ c + d }}{% set s %}  block {{ 1 }} {% endset %}[{{ s }}]{% set u | upper %}shout{% endset %}{{ u }})J", R"J({})J",
     R"J(127[  block 1 ]SHOUT)J"},
    {R"J({% set messages = messages[1:] %}{{ messages|length }})J", R"J({"messages": [1, 2, 3]})J",
     R"J(2)J"},
    // macros
    {R"J({% macro greet(name, greeting='Hello') %}{{ greeting }}, {{ name }}!{% endmacro %}{{ greet('Bob') }} {{ greet('Al', greeting='Hi') }} {{ greet(name='X') }} [{{ greet() }}])J", R"J({})J",
     R"J(Hello, Bob! Hi, Al! Hello, X! [Hello, !])J"},
    {R"J({% macro m(a) %}{{ a }}|{{ varargs }}|{{ kwargs }}{% endmacro %}{{ m(1, 2, 3, k=4) }})J", R"J({})J",
     R"J(1|(2, 3)|{'k': 4})J"},
    {R"J({% macro m(a, b=a ~ '!') %}{{ b }}{% endmacro %}{{ m('x') }} {% set n = 3 %}{% macro show() %}{{ n }}{% endmacro %}{% set n = 4 %}{{ show() }})J", R"J({})J",
     R"J(x! 4)J"},
    {R"J({% macro f(n) %}{% if n > 0 %}{{ n }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(5) }})J", R"J({})J",
     R"J(54321)J"},
    {R"J({% macro wrap() %}<{{ caller() }}>{% endmacro %}{% call wrap() %}inside{% endcall %} {% macro each(xs) %}{% for x in xs %}{{ caller(x) }}{% endfor %}{% endmacro %}{% call(v) each([1, 2]) %}({{ v }}){% endcall %})J", R"J({})J",
     R"J(<inside> (1)(2))J"},
    // blocks
    {R"J({% filter upper %}hello {{ 'world' }}{% endfilter %} {% with a = 1, b = 2 %}{{ a + b }}{% endwith %}[{{ a }}] {% raw %}{{ not evaluated }}{% endraw %})J", R"J({})J",
     R"J(HELLO WORLD 3[] {{ not evaluated }})J"},
    {R"J({% generation %}gen {{ 1 }}{% endgeneration %} {% block content %}blk{% endblock %} {% print 'p', 2 %})J", R"J({})J",
     R"J(gen 1 blk p2)J"},
    // indexing and slicing
    {R"J({{ 'abc'[1:] }} {{ 'abcdef'[::2] }} {{ 'abc'[-1] }} {{ x[1:-1] }} {{ x[::-1] }} {{ 'abc'[5:] }}| {{ 'héllo'[1:3] }} {{ x[1::-1] }} {{ x.0 }} {{ x[10] }}|)J", R"J({"x": [0, 1, 2, 3]})J",
     R"J(bc ace c [1, 2] [3, 2, 1, 0] | él [1, 0] 0 |)J"},
    // attributes and methods
    {R"J({{ x.y }} {{ x.items is callable }} {{ x['items'] }} {{ x.get('y') }} {{ x.get('z', 'dflt') }} {{ x.keys()|list }} {{ x.values()|list }})J", R"J({"x": {"y": 2, "items": 1}})J",
     R"J(2 True 1 2 dflt ['y', 'items'] [2, 1])J"},
    {R"J({{ ' a '.strip() }}|{{ 'xxhixx'.strip('x') }}|{{ 'a-b'.split('-') }} {{ ' a  b '.split() }} {{ 'a b c'.split(none, 1) }} {{ 'a,b,c'.rsplit(',', 1) }} {{ 'a\nb\r\nc'.splitlines() }})J", R"J({})J",
     R"J(a|hi|['a', 'b'] ['a', 'b'] ['a', 'b c'] ['a,b', 'c'] ['a', 'b', 'c'])J"},
    {R"J({{ 'AbC'.lower() }} {{ 'abc'.upper() }} {{ 'hello world'.title() }} {{ 'hELLO'.capitalize() }} {{ 'Hello'.startswith('He') }} {{ 'Hello'.endswith(('x', 'lo')) }} {{ 'a,b'.replace(',', ';') }} {{ 'aaa'.count('a') }} {{ 'héllo'.find('l') }} {{ 'abc'.rfind('z') }})J", R"J({})J",
     R"J(abc ABC Hello World Hello True True a;b 3 2 -1)J"},
    {R"J({{ ','.join(['a', 'b']) }} {{ '{} {}'.format(1, 'b') }} {{ '{:>4}|{:<4}|{:^5}|{:.2f}|{:,}|{!r}'.format('a', 'b', 'c', 2.5, 1234567, 'q') }} {{ 'x'.center(5) }}| {{ '5'.zfill(3) }} {{ 'a-b-c'.partition('-') }})J", R"J({})J",
     R"J(a,b 1 b    a|b   |  c  |2.50|1,234,567|'q'   x  | 005 ('a', '-', 'b-c'))J"},
    {R"J({{ 'abc'.isalpha() }} {{ '123'.isdigit() }} {{ ' '.isspace() }} {{ 'abc'.islower() }} {{ 'ABC'.isupper() }} {{ [1, 2, 2].count(2) }} {{ [1, 2, 3].index(2) }})J", R"J({})J",
     R"J(True True True True True 2 1)J"},
    {R"J({{ '%s=%d' % ('a', 1) }} {{ '%05.1f' % 3.14159 }} {{ '%-5s|' % 'ab' }} {{ '%(a)s-%(b)s' % {'a': 1, 'b': 2} }} {{ '%x %r %%' % (255, 'q') }})J", R"J({})J",
     R"J(a=1 003.1 ab   | 1-2 ff 'q' %)J"},
    // unicode
    {R"J({{ 'Grüße'|upper }} {{ 'ΣΑΣ'.lower() }} {{ 'ǆemal'|capitalize }} {{ 'ß'.upper() }} {{ '你好'|length }} {{ '\u00a0x\u3000'|trim }}| {{ 'a\u00a0b'.split() }} {{ '😀é'[::-1] }})J", R"J({})J",
     R"J(GRÜSSE σας ǅemal SS 2 x| ['a', 'b'] é😀)J"},
    // filters: strings
    {R"J({{ '  x y  '|trim }}|{{ 'xxhixx'|trim('x') }}|{{ 'hello world-foo(bar'|title }} {{ 'hELLO wORLD'|capitalize }} {{ 'a b  c'|wordcount }} {{ 'hello'|replace('l', 'L') }} {{ 'hello'|replace('l', 'L', 1) }} {{ 42|string ~ '!' }})J", R"J({})J",
     R"J(x y|hi|Hello World-Foo(Bar Hello world 3 heLLo heLlo 42!)J"},
    {R"J({{ 'a\nb\n\nc'|indent(2) }}|{{ 'a\nb'|indent(2, true) }}|{{ 'a\n\nb'|indent(2, blank=true) }}|{{ 'x'|indent('--', true) }})J", R"J({})J",
     R"J(a
  b

  c|  a
  b|a
  
  b|--x)J"},
    {R"J({{ 'Hello World'|truncate(5) }}|{{ 'Hello World foo bar baz qux'|truncate(12) }}|{{ 'abcdefghij'|truncate(6, true, '..', 0) }}|{{ 'x'|center(7) }}|)J", R"J({})J",
     R"J(He...|Hello...|abcd..|   x   |)J"},
    {R"J({{ '<a href="x">&\''|escape }} {{ 'y'|e }} {{ '<b>'|safe }} {{ '%s and %s'|format('a', 'b') }} {{ '%(x)s'|format(x=1) }})J", R"J({})J",
     R"J(&lt;a href=&#34;x&#34;&gt;&amp;&#39; y <b> a and b 1)J"},
    // filters: sequences
    {R"J({{ [3, 1, 2]|sort }} {{ [3, 1, 2]|sort(reverse=true) }} {{ ['B', 'a', 'C']|sort }} {{ ['B', 'a', 'C']|sort(case_sensitive=true) }} {{ x|sort(attribute='n')|map(attribute='n')|list }})J", R"J({"x": [{"n": 3}, {"n": 1}, {"n": 2}]})J",
     R"J([1, 2, 3] [3, 2, 1] ['a', 'B', 'C'] ['B', 'C', 'a'] [1, 2, 3])J"},
    {R"J({{ ['b', 'a']|first }} {{ ['b', 'a']|last }} {{ 'xyz'|first }} [{{ []|first }}] {{ [1, 2, 3]|sum }} {{ x|sum(attribute='n') }} {{ [1, 5, 3]|max }} {{ [4, 2]|min }} {{ x|max(attribute='n') }})J", R"J({"x": [{"n": 3}, {"n": 1}]})J",
     R"J(b a x [] 6 4 5 2 {'n': 3})J"},
    {R"J({{ [1, 2, 3]|length }} {{ 'héllo'|count }} {{ {'a': 1}|length }} {{ none|default('d') }} {{ missing|default('d') }} {{ ''|default('d', true) }} {{ missing|d('dd') }} {{ 0|default(5) }})J", R"J({})J",
     R"J(3 5 1 None d d dd 0)J"},
    {R"J({{ [1, 2, 3]|join }} {{ ['a', 'b']|join('-') }} {{ x|join(', ', attribute='r') }} {{ x|map(attribute='r')|list }} {{ x|map(attribute='q', default='?')|join }} {{ ['a', 'b']|map('upper')|list }})J", R"J({"x": [{"r": "u"}, {"r": "a"}]})J",
     R"J(123 a-b u, a ['u', 'a'] ?? ['A', 'B'])J"},
    {R"J({{ [1, 2, 3]|select('odd')|list }} {{ [1, 2, 3]|reject('odd')|list }} {{ [0, 1, '']|select|list }} {{ x|selectattr('f')|map(attribute='n')|list }} {{ x|rejectattr('f')|map(attribute='n')|list }} {{ x|selectattr('n', 'equalto', 2)|list }})J", R"J({"x": [{"n": 1, "f": true}, {"n": 2, "f": false}, {"n": 3}]})J",
     R"J([1, 3] [2] [1] [1] [2, 3] [{'n': 2, 'f': False}])J"},
    {R"J({{ [1, 1, 2, 'a', 'A']|unique|list }} {{ [1, 2]|reverse|list }} {{ 'héllo'|reverse }} {{ 'abc'|list }} {{ {'a': 1}|list }} {{ {'b': 1, 'a': 2}|dictsort }} {{ {'a': 1}|items|list }} {{ missing|items|list }})J", R"J({})J",
     R"J([1, 2, 'a'] [2, 1] olléh ['a', 'b', 'c'] ['a'] [('a', 2), ('b', 1)] [('a', 1)] [])J"},
    {R"J({{ [1, 2, 3, 4, 5]|batch(2)|list }} {{ [1, 2, 3, 4, 5]|batch(2, 'x')|list }} {{ [1, 2, 3, 4, 5]|slice(2)|list }} {{ x|attr('a') }}|{{ x|attr('keys') is callable }})J", R"J({"x": {"a": 1}})J",
     R"J([[1, 2], [3, 4], [5]] [[1, 2], [3, 4], [5, 'x']] [[1, 2, 3], [4, 5]] |True)J"},
    // filters: numbers
    {R"J({{ '42'|int + 1 }} {{ '3.7'|float }} {{ 'x'|int }} {{ 'x'|int(7) }} {{ 3.9|int }} {{ '0x1f'|int(0, 16) }} {{ ' 12 '|int }} {{ '1e3'|int }} {{ -3|abs }} {{ -2.5|abs }})J", R"J({})J",
     R"J(43 3.7 0 7 3 31 12 1000 3 2.5)J"},
    {R"J({{ 2.5|round }} {{ 3.5|round }} {{ 2.675|round(2) }} {{ 5|round }} {{ -2.5|round }} {{ 1.23456|round(2, 'floor') }} {{ 1.21|round(1, 'ceil') }} {{ 1234.5|round(-2) }})J", R"J({})J",
     R"J(2.0 4.0 2.67 5 -2.0 1.23 1.3 1200.0)J"},
    // tojson
    {R"J({{ {'a': 'é', 'b': [1, 2.5, none, true]}|tojson }}|{{ {'a': 1, 'b': [1, {}]}|tojson(indent=2) }}|{{ 'x\n"'|tojson }}|{{ (1, 2)|tojson }})J", R"J({})J",
     R"J({"a": "é", "b": [1, 2.5, null, true]}|{
  "a": 1,
  "b": [
    1,
    {}
  ]
}|"x\n\""|[1, 2])J"},
    {R"J({{ {'b': 1, 'a': 2}|tojson(sort_keys=true) }}|{{ {'a': [1, 2]}|tojson(separators=(',', ':')) }}|{{ 'é😀'|tojson(true) }}|{{ {1: 'a', true: 'b', none: 'c'}|tojson }})J", R"J({})J",
     R"J({"a": 2, "b": 1}|{"a":[1,2]}|"\u00e9\ud83d\ude00"|{"1": "b", "null": "c"})J"},
    {R"J({{ x|tojson }})J", R"J({"x": {"z": 1, "a": {"nested": [1, "two", null]}}})J",
     R"J({"z": 1, "a": {"nested": [1, "two", null]}})J"},
    // tests
    {R"J({{ x is defined }} {{ x is undefined }} {{ none is none }} {{ 1 is number }} {{ 'a' is string }} {{ {} is mapping }} {{ [] is iterable }} {{ [] is sequence }} {{ 3 is odd }} {{ 4 is even }} {{ 9 is divisibleby 3 }} {{ 9 is divisibleby(2) }})J", R"J({})J",
     R"J(False True True True True True True True True True True False)J"},
    {R"J({{ 1 is integer }} {{ 1.0 is float }} {{ true is boolean }} {{ true is true }} {{ 0 is false }} {{ 'a' is equalto 'a' }} {{ 2 is gt 1 }} {{ 2 is le 1 }} {{ 'a' is in 'abc' }} {{ none is sameas none }} {{ 'ab' is lower }} {{ 'A' is upper }})J", R"J({})J",
     R"J(True True True True False True True False True True True True)J"},
    {R"J({{ x is not defined }} {{ not x is defined }} {{ x is not none and x|length > 0 }} {{ range is callable }} {{ 'upper' is filter }} {{ 'odd' is test }} {{ 'nope' is filter }})J", R"J({})J",
     R"J(True True False True True True False)J"},
    // globals
    {R"J({{ range(3)|list }} {{ range(1, 10, 3)|list }} {{ range(5, 0, -2)|list }} {{ dict(a=1) }} {{ dict([('x', 1)]) }} {{ namespace(a=1).a }} {% set j = joiner(', ') %}{% for x in [1, 2, 3] %}{{ j() }}{{ x }}{% endfor %})J", R"J({})J",
     R"J([0, 1, 2] [1, 4, 7] [5, 3, 1] {'a': 1} {'x': 1} 1 1, 2, 3)J"},
    // whitespace control
    {R"J({%- if true -%}
  a  
{%- endif -%}
  b  {{- ' c ' -}}  d)J", R"J({})J",
     R"J(ab c d)J"},
    {R"J(  {% if true %}
    line
  {% endif %}
end
)J", R"J({})J",
     R"J(    line
end)J"},
    {R"J(a  {% if true %}
  b
  {%+ if true %}c{% endif %}
{# c #}
  {#- c -#}  
d {{ 1 }}
  {{ 2 }}
{% endif %})J", R"J({})J",
     R"J(a    b
  cd 1
  2
)J"},
    {R"J(x	 {% if true %}y{% endif %}  
  {% if true %} z{% endif %}|{% if true +%}
A{% endif %}|{#
#}  {% if true %}x{% endif %})J", R"J({})J",
     R"J(x	 y  
 z|
A|  x)J"},
    {R"J({% raw %}
abc
  {% endraw %}
X|{%- raw -%}
 {{ x }} 
  {%- endraw %}
Y)J", R"J({})J",
     R"J(
abc
X|{{ x }}Y)J"},
    {R"J(a
b
c{{ 'x
y' }}
)J", R"J({})J",
     R"J(a
b
cx
y)J"},

    // generators, views, ranges and Markup
    {R"J({{ x.items() }} {{ x.keys() }} {{ x.values() }} {{ range(3) }} {{ range(1, 5, 2) }} {{ range(3)[1] }} {{ range(5)[1:3] }} {{ x.items()|length }} {{ range(3)|length }})J", R"J({"x": {"a": 1, "b": [1, 2]}})J",
     R"J(dict_items([('a', 1), ('b', [1, 2])]) dict_keys(['a', 'b']) dict_values([1, [1, 2]]) range(0, 3) range(1, 5, 2) 1 range(1, 3) 2 3)J"},
    {R"J({% set g = [1, 2, 3]|select('odd') %}{{ g|list }}{{ g|list }}|{% if []|select %}always true{% endif %}|{% set h = [1, 2, 3]|map('string') %}{{ h|first }}{{ h|list }})J", R"J({})J",
     R"J([1, 3][]|always true|1['2', '3'])J"},
    {R"J({{ range(3) == range(3) }} {{ 'a' in x.keys() }} {{ 2 in range(3) }} {{ x.items() is sequence }} {{ range(3) is sequence }} {{ [1]|map('string') is sequence }} {{ x.items() == x.items() }})J", R"J({"x": {"a": 1, "b": [1, 2]}})J",
     R"J(True True True False True False True)J"},
    {R"J({% for k, v in x.items() %}{{ k }}{{ v }}{% endfor %} {% for v in [1, 2, 3]|select('odd') %}{{ loop.index }}/{{ loop.length }} {% endfor %}{{ x.items()|reverse|list }} {{ range(3)|reverse|list }})J", R"J({"x": {"a": 1, "b": [1, 2]}})J",
     R"J(a1b[1, 2] 1/2 2/2 [('b', [1, 2]), ('a', 1)] [2, 1, 0])J"},
    {R"J({{ '<a>'|safe + '<b>' }} {{ '<b>' + '<a>'|safe }} {{ '<a>'|e }} {{ '<a>'|safe|e }} {{ '<a>'|safe ~ '<b>' }} {{ ('<a>'|safe).upper() }} {{ 'x'|safe is escaped }} {{ ('%s'|safe) % '<' }} {{ ('<'|safe) * 2 }})J", R"J({})J",
     R"J(<a>&lt;b&gt; &lt;b&gt;<a> &lt;a&gt; <a> <a><b> <A> True &lt; <<)J"},
    {R"J({{ ('a<'|safe).replace('a', '<') }} {{ ('x'|safe).join(['<', '>']) }} {{ ('<a>'|safe)[0] + '<' }} {{ ('<b> '|safe)|trim + '<' }} {{ ('<b>'|safe)|upper + '&' }} {{ '<'|forceescape }} {{ [('<'|safe)] }})J", R"J({})J",
     R"J(&lt;< &lt;x&gt; <&lt; <b>&lt; <B>&amp; &lt; [Markup('<')])J"},
    {R"J({{ 2.5|selectattr('x') is iterable }} {% set unused = 3|reject('none') %}ok)J", R"J({})J",
     R"J(True ok)J"},

};

TEST(JinjaTemplate, RendersLikeJinja2) {
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.source);
    std::string got;
    try {
      got = render(c.source, ordered_json::parse(c.context));
    } catch (const Error& e) {
      ADD_FAILURE() << "template: " << c.source << "\nthrew: " << e.what();
      continue;
    }
    EXPECT_EQ(got, c.expected) << "template: " << c.source;
  }
}

TEST(JinjaTemplate, KeepsContextKeyOrder) {
  // An ordered_json context keeps the document's key order, as Python's json.loads does.
  const auto context = ordered_json::parse(R"({"x": {"zeta": 1, "alpha": 2}})");
  EXPECT_EQ(render("{{ x|tojson }} {% for k in x %}{{ k }} {% endfor %}", context),
            R"({"zeta": 1, "alpha": 2} zeta alpha )");
}

TEST(JinjaTemplate, StrftimeNowFormatsThePinnedTime) {
  RenderOptions options;
  std::tm now{};
  now.tm_year = 2024 - 1900;
  now.tm_mon = 8;
  now.tm_mday = 5;
  now.tm_hour = 14;
  now.tm_min = 3;
  now.tm_wday = 4;
  options.now = now;
  EXPECT_EQ(render("{{ strftime_now('%d %b %Y') }}|{{ strftime_now('%Y-%m-%d %H:%M %A') }}", ordered_json::object(), options),
            "05 Sep 2024|2024-09-05 14:03 Thursday");
  // Without a pinned time: today, in the documented format.
  EXPECT_EQ(render("{{ strftime_now('%Y')|length }}"), "4");
}

TEST(JinjaTemplate, RendersConcurrently) {
  const JinjaTemplate tpl(
      "{% set ns = namespace(n=0) %}{% for m in messages %}{% set ns.n = ns.n + 1 %}"
      "{{ m.role }}:{{ m.content|trim }}\n{% endfor %}{{ ns.n }}");
  ordered_json context;
  for (int i = 0; i < 50; ++i) context["messages"].push_back({{"role", "user"}, {"content", " message " + std::to_string(i)}});
  const std::string expected = tpl.render(context);
  std::vector<std::string> results(4);
  std::vector<std::thread> threads;
  for (size_t t = 0; t < results.size(); ++t) {
    threads.emplace_back([&, t] {
      for (int k = 0; k < 50; ++k) results[t] = tpl.render(context);
    });
  }
  for (auto& th : threads) th.join();
  for (const std::string& r : results) EXPECT_EQ(r, expected);
}

// ---- errors -------------------------------------------------------------------------------

std::string error_of(std::string_view source, const ordered_json& context = ordered_json::object(),
                     const RenderOptions& options = {}) {
  return testing::error_message([&] { render(source, context, options); });
}

TEST(JinjaErrors, SyntaxErrorsNameTheirPosition) {
  GENARM_EXPECT_ERROR(render("{% foo %}"), ErrorCategory::kFormat, "chat template:1:4: unknown tag 'foo'");
  GENARM_EXPECT_ERROR(render("ab\n{% for x in y %}{% endif %}"), ErrorCategory::kFormat,
                      "chat template:2:20: unknown tag 'endif', expected 'endfor' or 'else'");
  GENARM_EXPECT_ERROR(render("{% if true %}unclosed"), ErrorCategory::kFormat,
                      "unexpected end of template, expected 'elif' or 'else' or 'endif' to close the 'if' tag at 1:4");
  GENARM_EXPECT_ERROR(render("{{ a b }}"), ErrorCategory::kFormat, "chat template:1:6: expected 'end of print statement', got 'b'");
  GENARM_EXPECT_ERROR(render("{{ 1 + }}"), ErrorCategory::kFormat, "chat template:1:8: unexpected 'end of print statement'");
  GENARM_EXPECT_ERROR(render("{{ (1, 2 }}"), ErrorCategory::kFormat, "chat template:1:10: unexpected '}', expected ')'");
  GENARM_EXPECT_ERROR(render("{{ 'unterminated }}"), ErrorCategory::kFormat, "chat template:1:4: unterminated string literal");
  GENARM_EXPECT_ERROR(render("x {{ a ! b }}"), ErrorCategory::kFormat, "chat template:1:8: unexpected character '!'");
  GENARM_EXPECT_ERROR(render("{#- never closed"), ErrorCategory::kFormat, "chat template:1:1: missing end of comment tag '#}'");
  GENARM_EXPECT_ERROR(render("{% raw %}never closed"), ErrorCategory::kFormat, "missing end of raw directive");
  GENARM_EXPECT_ERROR(render("{% break %}"), ErrorCategory::kFormat, "chat template:1:4: 'break' outside of a for loop");
  GENARM_EXPECT_ERROR(render("{% set %}"), ErrorCategory::kFormat, "expected an assignment target");
  GENARM_EXPECT_ERROR(render("{% macro m(a=1, b) %}{% endmacro %}"), ErrorCategory::kFormat,
                      "non-default argument follows default argument");
  GENARM_EXPECT_ERROR(render("{{ x is a is b }}"), ErrorCategory::kFormat,
                      "chat template:1:11: you cannot chain multiple tests with is");
  GENARM_EXPECT_ERROR(render("{{ '\\xZZ' }}"), ErrorCategory::kFormat, "truncated \\x escape");
}

TEST(JinjaErrors, UnknownFiltersFailAtParseTimeOutsideConditionals) {
  GENARM_EXPECT_ERROR(JinjaTemplate("{{ x|nope }}"), ErrorCategory::kFormat, "chat template:1:6: no filter named 'nope'");
  GENARM_EXPECT_ERROR(JinjaTemplate("{{ x is nope }}"), ErrorCategory::kFormat, "chat template:1:9: no test named 'nope'");
  // Inside an if or a conditional expression jinja2 defers the check to the render.
  EXPECT_EQ(render("{% if false %}{{ x|nope }}{% endif %}ok"), "ok");
  EXPECT_EQ(render("{{ 'a'|nope if false else 'b' }}"), "b");
  GENARM_EXPECT_ERROR(render("{% if true %}{{ x|nope }}{% endif %}"), ErrorCategory::kFormat,
                      "chat template:1:19: TemplateRuntimeError: No filter named 'nope' found.");
}

TEST(JinjaErrors, RuntimeErrorsMatchPython) {
  EXPECT_EQ(error_of("{{ raise_exception('Conversation roles must alternate') }}"),
            "chat template:1:4: raise_exception: Conversation roles must alternate");
  EXPECT_EQ(error_of("a\n  {{ foo.bar }}"), "chat template:2:6: UndefinedError: 'foo' is undefined");
  EXPECT_EQ(error_of("{{ m.nope.x }}", ordered_json::parse(R"({"m": {}})")),
            "chat template:1:4: UndefinedError: 'dict object' has no attribute 'nope'");
  EXPECT_EQ(error_of("{{ m[3].x }}", ordered_json::parse(R"({"m": []})")),
            "chat template:1:4: UndefinedError: list object has no element 3");
  EXPECT_EQ(error_of("{{ 'a' + 1 }}"), "chat template:1:8: TypeError: can only concatenate str (not \"int\") to str");
  EXPECT_EQ(error_of("{{ 1 + 'a' }}"), "chat template:1:6: TypeError: unsupported operand type(s) for +: 'int' and 'str'");
  EXPECT_EQ(error_of("{{ 'a' < 1 }}"), "chat template:1:4: TypeError: '<' not supported between instances of 'str' and 'int'");
  EXPECT_EQ(error_of("{{ 1 / 0 }}"), "chat template:1:6: ZeroDivisionError: division by zero");
  EXPECT_EQ(error_of("{% for x in none %}{% endfor %}"), "chat template:1:13: TypeError: 'NoneType' object is not iterable");
  EXPECT_EQ(error_of("{% set a, b = [1] %}"), "chat template:1:4: ValueError: not enough values to unpack (expected 2, got 1)");
  EXPECT_EQ(error_of("{{ x|tojson }}"), "chat template:1:6: TypeError: Object of type Undefined is not JSON serializable");
  // What jinja2's filters return are generators, which json.dumps refuses (list them first).
  EXPECT_EQ(error_of("{{ [{'a': 1}]|map(attribute='a')|tojson }}"),
            "chat template:1:34: TypeError: Object of type generator is not JSON serializable");
  EXPECT_EQ(error_of("{{ [1]|select|length }}"), "chat template:1:15: TypeError: object of type 'generator' has no len()");
  EXPECT_EQ(error_of("{{ [1]|select|last }}"), "chat template:1:15: TypeError: 'generator' object is not reversible");
  // A generator's errors come when it is iterated.
  EXPECT_EQ(error_of("{% set g = 5|map('upper') %}{{ g|list }}"), "chat template:1:34: TypeError: 'int' object is not iterable");
  EXPECT_EQ(error_of("{{ 'x' if false }}{{ ('x' if false).y }}"),
            "chat template:1:23: UndefinedError: the inline if-expression on line 1 evaluated to false and no else "
            "section was defined.");
  EXPECT_EQ(error_of("{% macro m(a) %}{% endmacro %}{{ m(1, 2) }}"),
            "chat template:1:34: TypeError: macro 'm' takes not more than 1 argument(s)");
  EXPECT_EQ(error_of("{{ 'abc'.index('z') }}"), "chat template:1:4: ValueError: substring not found");
  EXPECT_EQ(error_of("{% set x = 1 %}{% set x.y = 2 %}"),
            "chat template:1:19: TemplateRuntimeError: cannot assign attribute on non-namespace object");
  EXPECT_EQ(error_of("{{ x[1:y] }}", ordered_json::parse(R"({"x": [1]})")),
            "chat template:1:4: TypeError: slice indices must be integers or None or have an __index__ method");
  // The sandbox: mutating methods are refused (reading them prints nothing).
  EXPECT_EQ(render("{{ [1].append }}|{{ {}.update }}"), "|");
  EXPECT_EQ(error_of("{{ m.append(2) }}", ordered_json::parse(R"({"m": [1]})")),
            "chat template:1:4: SecurityError: access to attribute 'append' of 'list' object is unsafe.");
  EXPECT_EQ(error_of("{{ ''.__class__() }}"), "chat template:1:4: SecurityError: access to attribute '__class__' of 'str' object is unsafe.");
  GENARM_EXPECT_ERROR(render("{{ foo() }}"), ErrorCategory::kInvalidArgument, "UndefinedError: 'foo' is undefined");
}

TEST(JinjaErrors, UnsupportedConstructsAreNamed) {
  GENARM_EXPECT_ERROR(JinjaTemplate("{% include 'other.jinja' %}"), ErrorCategory::kUnsupported,
                      "chat template:1:4: the 'include' tag is not supported");
  GENARM_EXPECT_ERROR(JinjaTemplate("{% extends 'base' %}"), ErrorCategory::kUnsupported, "the 'extends' tag");
  GENARM_EXPECT_ERROR(JinjaTemplate("{% for x in y recursive %}{% endfor %}"), ErrorCategory::kUnsupported,
                      "chat template:1:15: recursive for loops are not supported");
  GENARM_EXPECT_ERROR(JinjaTemplate("{{ '\\N{BULLET}' }}"), ErrorCategory::kUnsupported, "\\N{...} escapes");
  GENARM_EXPECT_ERROR(JinjaTemplate("{{ 99999999999999999999 }}"), ErrorCategory::kUnsupported,
                      "chat template:1:4: integer literal 99999999999999999999 does not fit in 64 bits");
  GENARM_EXPECT_ERROR(render("{{ 10000000000 * 10000000000 }}"), ErrorCategory::kUnsupported, "integer overflow in '*'");
  GENARM_EXPECT_ERROR(render("{{ [1, 2]|groupby('x') }}"), ErrorCategory::kUnsupported, "the 'groupby' filter is not supported");
  GENARM_EXPECT_ERROR(render("{{ 'x'.encode() }}"), ErrorCategory::kUnsupported, "the method str.encode() is not supported");
}

TEST(JinjaErrors, OriginNamesTheTemplate) {
  EXPECT_EQ(testing::error_message([] { JinjaTemplate("{% foo %}", "model/chat_template.jinja"); }),
            "model/chat_template.jinja:1:4: unknown tag 'foo'");
  EXPECT_EQ(testing::error_message([] { JinjaTemplate("{{ x.y }}", "t").render(ordered_json::object()); }),
            "t:1:4: UndefinedError: 'x' is undefined");
  GENARM_EXPECT_ERROR(JinjaTemplate("x").render(ordered_json::array()), ErrorCategory::kInvalidArgument,
                      "the render context must be a JSON object");
}

// ---- limits against hostile templates -------------------------------------------------------

TEST(JinjaLimits, DeepNestingIsAnErrorNotACrash) {
  const std::string parens = "{{ " + std::string(5000, '(') + "1" + std::string(5000, ')') + " }}";
  GENARM_EXPECT_ERROR(JinjaTemplate{parens}, ErrorCategory::kInvalidArgument, "nested deeper than 100 levels");
  std::string ifs;
  for (int i = 0; i < 1000; ++i) ifs += "{% if true %}";
  GENARM_EXPECT_ERROR(JinjaTemplate{ifs}, ErrorCategory::kInvalidArgument, "nested deeper than 100 levels");
  GENARM_EXPECT_ERROR(JinjaTemplate("{{ " + std::string(3000, '-') + "1 }}"), ErrorCategory::kInvalidArgument, "nested deeper");
  GENARM_EXPECT_ERROR(JinjaTemplate("{{ " + std::string(3000, '[') + std::string(3000, ']') + " }}"),
                      ErrorCategory::kInvalidArgument, "nested deeper");
  GENARM_EXPECT_ERROR(JinjaTemplate("{{ " + std::string(3000, '[') + " }}"), ErrorCategory::kFormat,
                      "chat template:1:3005: unexpected '}', expected ']'");
  // Expressions nested within recursive macros: bounded as a whole, not only per level.
  const std::string lists = std::string(45, '[') + "f(n - 1) if n > 0 else 'x'" + std::string(45, ']');
  GENARM_EXPECT_ERROR(render("{% macro f(n) %}{{ " + lists + "|length }}{% endmacro %}{{ f(90) }}"),
                      ErrorCategory::kInvalidArgument, "nests evaluation deeper than 500 levels");
  // Moderate nesting is fine.
  EXPECT_EQ(render("{{ " + std::string(20, '(') + "1" + std::string(20, ')') + " }}"), "1");
}

TEST(JinjaLimits, RecursionLoopsAndOutputAreBounded) {
  GENARM_EXPECT_ERROR(render("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}"), ErrorCategory::kInvalidArgument,
                      "macro 'f' nested deeper than 100 calls");
  RenderOptions small;
  small.max_loop_iterations = 1000;
  GENARM_EXPECT_ERROR(render("{% for i in range(100) %}{% for j in range(100) %}{% endfor %}{% endfor %}", ordered_json::object(), small),
                      ErrorCategory::kInvalidArgument, "more than 1000 loop iterations");
  small.max_output_bytes = 100;
  GENARM_EXPECT_ERROR(render("{% for i in range(50) %}0123456789{% endfor %}", ordered_json::object(), small),
                      ErrorCategory::kInvalidArgument, "exceeds 100 bytes");
  GENARM_EXPECT_ERROR(render("{{ 'x' * 1000 }}", ordered_json::object(), small), ErrorCategory::kInvalidArgument,
                      "exceeds 100 bytes");
  GENARM_EXPECT_ERROR(render("{{ range(100001)|length }}"), ErrorCategory::kInvalidArgument,
                      "OverflowError: Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).");
  GENARM_EXPECT_ERROR(render("{{ ('x' * 1000000) * 1000000 }}"), ErrorCategory::kInvalidArgument, "more than the limit");
  // A namespace holding itself is freed at the end of the render (no leak under ASan).
  EXPECT_EQ(render("{% set ns = namespace() %}{% set ns.me = ns %}{% set ns.f = range %}ok"), "ok");
}

TEST(JinjaLimits, DeeplyNestedJsonIsRefused) {
  std::string deep;
  for (int i = 0; i < 1000; ++i) deep += "[";
  for (int i = 0; i < 1000; ++i) deep += "]";
  ordered_json context;
  context["x"] = ordered_json::parse(deep);
  GENARM_EXPECT_ERROR(render("{{ x|length }}", context), ErrorCategory::kInvalidArgument, "nested deeper than 256 levels");
}

}  // namespace
}  // namespace genarm::chat
