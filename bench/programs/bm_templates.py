"""Template benchmark: a web application's request loop, rendering Jinja2 templates.

Each loop serves one request the way a small web framework does: parse the query string,
build the page's context (50 rows of user data, some with characters that must be
escaped), render a page template that extends a layout, loops over the rows, calls a macro
and applies filters, with autoescaping on (MarkupSafe's C speedups), then join the headers
and the body and encode the response. The environment and its compiled templates are made
once, before the loop, as an application does at start-up. Many short Python calls and
small strings: the profile of a server's view code without its network. Prints the time
per loop in pyperf's "name: value unit" form.
usage: bm_templates.py [--loops N]
"""
import sys
from time import perf_counter
from urllib.parse import parse_qs

from jinja2 import DictLoader, Environment

TEMPLATES = {
    "layout.html": """<!doctype html>
<html><head><title>{% block title %}{% endblock %} - Shop</title></head>
<body><nav>{% for link in nav %}
<a href="{{ link.url }}">{{ link.label|title }}</a>{% endfor %}</nav>
<main>{% block content %}{% endblock %}</main>
<footer>{{ footer }}</footer></body></html>""",
    "orders.html": """{% extends "layout.html" %}
{% macro money(value) %}{{ "%.2f"|format(value) }} {{ currency }}{% endmacro %}
{% block title %}Orders of {{ user.name }}{% endblock %}
{% block content %}
<h1>Orders of {{ user.name }}</h1>
<p>Page {{ page }} sorted by {{ sort }}; {{ rows|length }} orders, {{ money(total) }} in all.</p>
<table>
{% for row in rows %}
<tr class="{{ loop.cycle('odd', 'even') }}{% if row.late %} late{% endif %}">
<td>{{ loop.index + offset }}</td><td>{{ row.item|truncate(24) }}</td>
<td>{{ row.note|default('-', true) }}</td><td>{{ row.tags|join(', ') }}</td>
<td>{{ money(row.price * row.quantity) }}</td></tr>
{% endfor %}
</table>
{% endblock %}""",
}
ROWS = 50
SORT_KEYS = ("price", "item", "quantity")


def context(query):
    params = parse_qs(query)
    page, sort = int(params["page"][0]), params["sort"][0]
    rows = [{"item": f"Widget <{i}> & accessories, size {i % 7}", "price": 1.5 + i % 13,
             "quantity": 1 + i % 4, "late": i % 9 == 0, "tags": ["new", f"batch-{i % 5}"],
             "note": None if i % 3 else f"leave at door #{i}"} for i in range(ROWS)]
    rows.sort(key=lambda row: row[sort])
    return {"user": {"name": params["user"][0]}, "page": page, "sort": sort,
            "offset": (page - 1) * ROWS, "rows": rows, "currency": "EUR",
            "total": sum(row["price"] * row["quantity"] for row in rows),
            "nav": [{"url": f"/{name}", "label": name} for name in ("home", "orders", "account")],
            "footer": "Prices include VAT & shipping"}


def respond(template, query):
    body = template.render(context(query))
    headers = ["HTTP/1.1 200 OK", "Content-Type: text/html; charset=utf-8",
               f"Content-Length: {len(body.encode())}"]
    return ("\r\n".join(headers) + "\r\n\r\n" + body).encode()


def main(loops):
    env = Environment(loader=DictLoader(TEMPLATES), autoescape=True)
    template = env.get_template("orders.html")
    start = perf_counter()
    size = 0
    for request in range(loops):
        query = f"user=Ann+O%27Neil&page={1 + request % 5}&sort={SORT_KEYS[request % 3]}"
        size += len(respond(template, query))
    elapsed = perf_counter() - start
    assert size > 0
    print(f"templates: {1000 * elapsed / loops:.3f} ms")


if __name__ == "__main__":
    main(int(sys.argv[sys.argv.index("--loops") + 1]) if "--loops" in sys.argv else 500)
