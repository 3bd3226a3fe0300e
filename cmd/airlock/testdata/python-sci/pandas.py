# pandas: frames, group-by, merge, CSV round trip.
import io

import pandas as pd

n = int(input())
df = pd.DataFrame({"team": ["a", "b", "a", "c", "b"], "score": [3, 5, n, 1, 2]})
totals = df.groupby("team")["score"].sum()
assert totals.to_dict() == {"a": 3 + n, "b": 7, "c": 1}
names = pd.DataFrame({"team": ["a", "b", "c"], "name": ["Ada", "Bob", "Cy"]})
merged = df.merge(names, on="team").sort_values("score", ascending=False)
assert merged.iloc[0]["name"] == "Ada"
back = pd.read_csv(io.StringIO(df.to_csv(index=False)))
assert back.equals(df)
print("OK pandas", pd.__version__)
