"""Pure, torch-free statistics at the bottom of archrisk: the report and the risk score both use them,
and neither imports the other for them.

- `bootstrap`: cluster bootstrap intervals, permutation tests and rank correlations (display);
- `inference`: small-sample tests, power and multiplicity corrections that verdicts decide with;
- `components`: variance components of a measurement (between architectures, between seeds), per group;
- `estimands`: the two questions a group comparison can answer (these named architectures, or a
  population of architectures like them), each with its interval, power and what would decide it.
"""
