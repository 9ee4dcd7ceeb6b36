"""pandas benchmark: a sales report, built from a DataFrame of 200,000 rows.

Each loop builds a frame of sales (store, product, day, quantity, price), cleans a string
column, joins a product table onto it, and reports by group: per store and week several
aggregations at once, per category the revenue and the number of distinct products. This
is the pandas people profile: most time in pandas' and NumPy's C code (hash tables for the
group keys and the merge, sorting), some in pandas' own Python layers, and strings as
Python objects (no pyarrow here), so the allocations are both Python objects and large
native arrays. The data come from a seeded generator, so each run does the same work.
Prints the time per loop in pyperf's "name: value unit" form.
usage: bm_pandas_groupby.py [--loops N]
"""
import sys
from time import perf_counter

import numpy as np
import pandas as pd

ROWS = 200_000
STORES = 50
PRODUCTS = 1_000


def sales(rng):
    stores = np.array([f" Store-{i:03d} " for i in range(STORES)], dtype=object)
    return pd.DataFrame({
        "store": stores[rng.integers(0, STORES, ROWS)],
        "product": rng.integers(0, PRODUCTS, ROWS),
        "day": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 365, ROWS), "D"),
        "quantity": rng.integers(1, 20, ROWS),
        "price": rng.uniform(0.5, 100.0, ROWS).round(2),
    })


def report(rng, products):
    df = sales(rng)
    df["store"] = df["store"].str.strip().str.lower()
    df["store_number"] = df["store"].str.removeprefix("store-").astype(int)
    df["revenue"] = df["quantity"] * df["price"]
    df = df.merge(products, on="product", how="left")
    by_store_week = (df.groupby(["store", pd.Grouper(key="day", freq="W")])
                     .agg(units=("quantity", "sum"), revenue=("revenue", "sum"),
                          mean_price=("price", "mean"), max_price=("price", "max"),
                          orders=("product", "size")))
    by_category = df.groupby("category").agg(revenue=("revenue", "sum"),
                                             products=("product", "nunique"))
    heavy = df[df["category"].str.contains("tools|garden")]
    return len(by_store_week) + len(by_category) + len(heavy)


def main(loops):
    rng = np.random.default_rng(20)
    categories = np.array(["tools", "garden", "kitchen", "toys", "books", "sports"])
    products = pd.DataFrame({"product": np.arange(PRODUCTS),
                             "category": categories[np.arange(PRODUCTS) % len(categories)],
                             "weight": rng.uniform(0.1, 5.0, PRODUCTS)})
    start = perf_counter()
    for _ in range(loops):
        assert report(rng, products) > 0
    elapsed = perf_counter() - start
    print(f"pandas_groupby: {1000 * elapsed / loops:.3f} ms")


if __name__ == "__main__":
    main(int(sys.argv[sys.argv.index("--loops") + 1]) if "--loops" in sys.argv else 3)
