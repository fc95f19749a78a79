"""The station's figures (化解率, 民转刑 …) and the weekly review list (每周研判).

Everything here is counted by SQL over the records themselves: no counter is
kept by hand, so a figure can always be traced back to the disputes it counts.
"""
