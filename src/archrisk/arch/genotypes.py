"""Published cells, as pure data.

The NAS cells evaluated by Pang et al., "On the Security Risks of AutoML" (USENIX Security
2022), plus DARTS V1, the randomly sampled cell and the three remedy cells (DARTS-i/ii/iii)
of that study. Every cell is given in the DARTS genotype format; the study's own code
(github.com/ain-soph/autovul, autovul/vision/utils/model_archs/darts/genotypes.py) is taken
as authoritative, and each entry also names the original publication and repository it
agrees with (or says how it differs).

Build a `Genotype` from an entry with `Genotype.from_dict(GENOTYPES[name])`. `PROVENANCE[name]` gives
each cell's search method (a tag shared by the cells one method found), paper and released file.
Published cells beyond the study's live in `genotypes_more.py`.
"""
from __future__ import annotations

from typing import NamedTuple


class Provenance(NamedTuple):
    """Where a cell comes from."""

    method: str  # search method, e.g. "darts", "pc_darts": cells of one method form a cluster
    paper: str  # the publication that reports the cell
    code: str  # the released file (repository, path, variable) its genotype is copied from

# Each entry: normal/reduce are lists of (op_name, input_index) pairs, two per intermediate node;
# *_concat lists the node indices concatenated into the cell output. Source cited per entry.
# Indices 0 and 1 are the outputs of the cell two back and of the previous cell; index k >= 2 is
# intermediate node k - 2. `conv_7x1_1x7` (AmoebaNet reduction cell only) is a ReLU, a 1x7 conv
# and a 7x1 conv (stride split between the two), then BatchNorm, as in DARTS' operations table.
#
# Normal-cell structure (depth = intermediate nodes on the longest chain to the output / number
# of skip_connect edges) matches the study's table for every cell: AmoebaNet 3/2, DARTS 2/2,
# DrNAS 3/1, ENAS 1/2, NASNet 1/2, PC-DARTS 1/1, P-DARTS 3/2, SGAS 2/1, SNAS 1/4, Random 3/2,
# DARTS-i 4/2, DARTS-ii 2/0, DARTS-iii 4/0 (DARTS V1, not in the table: 2/3).
GENOTYPES: dict[str, dict] = {
    "nasnet": dict(
        # Zoph et al., NASNet-A (CVPR 2018), in DARTS format as NASNet in
        # github.com/quark0/darts cnn/genotypes.py; identical in the study's code (`nasnet`).
        # Five intermediate nodes; the reduction cell concatenates only its unused nodes.
        normal=[
            ("sep_conv_5x5", 1), ("sep_conv_3x3", 0),
            ("sep_conv_5x5", 0), ("sep_conv_3x3", 0),
            ("avg_pool_3x3", 1), ("skip_connect", 0),
            ("avg_pool_3x3", 0), ("avg_pool_3x3", 0),
            ("sep_conv_3x3", 1), ("skip_connect", 1),
        ],
        normal_concat=[2, 3, 4, 5, 6],
        reduce=[
            ("sep_conv_5x5", 1), ("sep_conv_7x7", 0),
            ("max_pool_3x3", 1), ("sep_conv_7x7", 0),
            ("avg_pool_3x3", 1), ("sep_conv_5x5", 0),
            ("skip_connect", 3), ("avg_pool_3x3", 2),
            ("sep_conv_3x3", 2), ("max_pool_3x3", 1),
        ],
        reduce_concat=[4, 5, 6],
    ),
    "amoebanet": dict(
        # Real et al., AmoebaNet-A (AAAI 2019), in DARTS format as AmoebaNet in
        # github.com/quark0/darts cnn/genotypes.py; identical in the study's code (`amoebanet`).
        # Five intermediate nodes; only unused nodes are concatenated.
        normal=[
            ("avg_pool_3x3", 0), ("max_pool_3x3", 1),
            ("sep_conv_3x3", 0), ("sep_conv_5x5", 2),
            ("sep_conv_3x3", 0), ("avg_pool_3x3", 3),
            ("sep_conv_3x3", 1), ("skip_connect", 1),
            ("skip_connect", 0), ("avg_pool_3x3", 1),
        ],
        normal_concat=[4, 5, 6],
        reduce=[
            ("avg_pool_3x3", 0), ("sep_conv_3x3", 1),
            ("max_pool_3x3", 0), ("sep_conv_7x7", 2),
            ("sep_conv_7x7", 0), ("avg_pool_3x3", 1),
            ("max_pool_3x3", 0), ("max_pool_3x3", 1),
            ("conv_7x1_1x7", 0), ("sep_conv_3x3", 5),
        ],
        reduce_concat=[3, 4, 6],
    ),
    "enas": dict(
        # Pham et al., ENAS (ICML 2018) micro-search cell, in DARTS format as ENAS in
        # github.com/shuyao95/Understanding-NAS genotypes.py (Shu et al., ICLR 2020);
        # identical in the study's code (`enas`). Five intermediate nodes; `skip_connect`
        # stands for ENAS's identity op.
        normal=[
            ("sep_conv_3x3", 1), ("skip_connect", 1),
            ("sep_conv_5x5", 1), ("skip_connect", 0),
            ("avg_pool_3x3", 0), ("sep_conv_3x3", 1),
            ("sep_conv_3x3", 0), ("avg_pool_3x3", 1),
            ("sep_conv_5x5", 1), ("avg_pool_3x3", 0),
        ],
        normal_concat=[2, 3, 4, 5, 6],
        reduce=[
            ("sep_conv_5x5", 0), ("avg_pool_3x3", 1),
            ("sep_conv_3x3", 1), ("avg_pool_3x3", 1),
            ("sep_conv_3x3", 1), ("avg_pool_3x3", 1),
            ("sep_conv_5x5", 4), ("avg_pool_3x3", 1),
            ("sep_conv_3x3", 5), ("sep_conv_5x5", 0),
        ],
        reduce_concat=[2, 3, 6],
    ),
    "darts_v1": dict(
        # Liu et al., DARTS (ICLR 2019), first-order search: DARTS_V1 in
        # github.com/quark0/darts cnn/genotypes.py; identical in the study's code (`darts_v1`).
        normal=[
            ("sep_conv_3x3", 1), ("sep_conv_3x3", 0),
            ("skip_connect", 0), ("sep_conv_3x3", 1),
            ("skip_connect", 0), ("sep_conv_3x3", 1),
            ("sep_conv_3x3", 0), ("skip_connect", 2),
        ],
        normal_concat=[2, 3, 4, 5],
        reduce=[
            ("max_pool_3x3", 0), ("max_pool_3x3", 1),
            ("skip_connect", 2), ("max_pool_3x3", 0),
            ("max_pool_3x3", 0), ("skip_connect", 2),
            ("skip_connect", 2), ("avg_pool_3x3", 0),
        ],
        reduce_concat=[2, 3, 4, 5],
    ),
    "darts_v2": dict(
        # Liu et al., DARTS (ICLR 2019), second-order search: DARTS_V2 in
        # github.com/quark0/darts cnn/genotypes.py; identical in the study's code (`darts_v2`,
        # aliased `darts`). This is the cell the study calls "DARTS".
        normal=[
            ("sep_conv_3x3", 0), ("sep_conv_3x3", 1),
            ("sep_conv_3x3", 0), ("sep_conv_3x3", 1),
            ("sep_conv_3x3", 1), ("skip_connect", 0),
            ("skip_connect", 0), ("dil_conv_3x3", 2),
        ],
        normal_concat=[2, 3, 4, 5],
        reduce=[
            ("max_pool_3x3", 0), ("max_pool_3x3", 1),
            ("skip_connect", 2), ("max_pool_3x3", 1),
            ("max_pool_3x3", 0), ("skip_connect", 2),
            ("skip_connect", 2), ("max_pool_3x3", 1),
        ],
        reduce_concat=[2, 3, 4, 5],
    ),
    "snas_mild": dict(
        # Xie et al., SNAS (ICLR 2019), mild resource constraint: SNAS_mild in
        # github.com/SNAS-Series/SNAS-Series SNAS/genotypes.py. Taken as the study's code
        # (`snas_mild`) and github.com/shuyao95/Understanding-NAS (SNAS_MILD) write it: the normal
        # cell is identical; in the reduction cell the two edges of node 1 and of node 3 are
        # listed in the opposite order to the authors' file (same edges, same cell).
        normal=[
            ("sep_conv_3x3", 0), ("sep_conv_3x3", 1),
            ("skip_connect", 0), ("dil_conv_3x3", 1),
            ("skip_connect", 0), ("skip_connect", 1),
            ("skip_connect", 0), ("sep_conv_3x3", 1),
        ],
        normal_concat=[2, 3, 4, 5],
        reduce=[
            ("max_pool_3x3", 0), ("max_pool_3x3", 1),
            ("skip_connect", 2), ("max_pool_3x3", 1),
            ("max_pool_3x3", 1), ("skip_connect", 2),
            ("dil_conv_5x5", 2), ("max_pool_3x3", 0),
        ],
        reduce_concat=[2, 3, 4, 5],
    ),
    "pc_darts": dict(
        # Xu et al., PC-DARTS (ICLR 2020), CIFAR-10 search: PC_DARTS_cifar in
        # github.com/yuhuixu1993/PC-DARTS genotypes.py; identical in the study's code
        # (`pc_darts_cifar`, aliased `pc_darts`).
        normal=[
            ("sep_conv_3x3", 1), ("skip_connect", 0),
            ("sep_conv_3x3", 0), ("dil_conv_3x3", 1),
            ("sep_conv_5x5", 0), ("sep_conv_3x3", 1),
            ("avg_pool_3x3", 0), ("dil_conv_3x3", 1),
        ],
        normal_concat=[2, 3, 4, 5],
        reduce=[
            ("sep_conv_5x5", 1), ("max_pool_3x3", 0),
            ("sep_conv_5x5", 1), ("sep_conv_5x5", 2),
            ("sep_conv_3x3", 0), ("sep_conv_3x3", 3),
            ("sep_conv_3x3", 1), ("sep_conv_3x3", 2),
        ],
        reduce_concat=[2, 3, 4, 5],
    ),
    "pdarts": dict(
        # Chen et al., P-DARTS (ICCV 2019): PDARTS in github.com/chenxin061/pdarts genotypes.py;
        # identical in the study's code (`pdarts`).
        normal=[
            ("skip_connect", 0), ("dil_conv_3x3", 1),
            ("skip_connect", 0), ("sep_conv_3x3", 1),
            ("sep_conv_3x3", 1), ("sep_conv_3x3", 3),
            ("sep_conv_3x3", 0), ("dil_conv_5x5", 4),
        ],
        normal_concat=[2, 3, 4, 5],
        reduce=[
            ("avg_pool_3x3", 0), ("sep_conv_5x5", 1),
            ("sep_conv_3x3", 0), ("dil_conv_5x5", 2),
            ("max_pool_3x3", 0), ("dil_conv_3x3", 1),
            ("dil_conv_3x3", 1), ("dil_conv_5x5", 3),
        ],
        reduce_concat=[2, 3, 4, 5],
    ),
    "drnas": dict(
        # Chen et al., DrNAS (ICLR 2021), CIFAR-10 cell from the DARTS space: DrNAS_cifar10 in
        # github.com/xiangning-chen/DrNAS DARTS-space/genotypes.py; identical in the study's code
        # (`drnas_cifar10`, aliased `drnas`).
        normal=[
            ("sep_conv_3x3", 0), ("sep_conv_5x5", 1),
            ("sep_conv_3x3", 1), ("sep_conv_3x3", 2),
            ("skip_connect", 0), ("sep_conv_3x3", 1),
            ("sep_conv_3x3", 2), ("dil_conv_5x5", 3),
        ],
        normal_concat=[2, 3, 4, 5],
        reduce=[
            ("max_pool_3x3", 0), ("sep_conv_5x5", 1),
            ("dil_conv_5x5", 2), ("sep_conv_5x5", 1),
            ("sep_conv_5x5", 1), ("dil_conv_5x5", 3),
            ("skip_connect", 4), ("sep_conv_5x5", 1),
        ],
        reduce_concat=[2, 3, 4, 5],
    ),
    "sgas": dict(
        # Li et al., SGAS (CVPR 2020), criterion 1, best CIFAR-10 cell: Cri1_CIFAR_3
        # (= Cri1_CIFAR_Best) in github.com/lightaime/sgas cnn/genotypes.py; identical in the
        # study's code (`sgas`). (The criterion-2 best cell, Cri2_CIFAR_3, is a different cell.)
        normal=[
            ("sep_conv_3x3", 0), ("dil_conv_3x3", 1),
            ("sep_conv_3x3", 0), ("sep_conv_3x3", 1),
            ("sep_conv_5x5", 1), ("sep_conv_5x5", 3),
            ("skip_connect", 0), ("dil_conv_5x5", 2),
        ],
        normal_concat=[2, 3, 4, 5],
        reduce=[
            ("max_pool_3x3", 0), ("dil_conv_5x5", 1),
            ("sep_conv_3x3", 0), ("skip_connect", 2),
            ("sep_conv_3x3", 1), ("skip_connect", 2),
            ("max_pool_3x3", 0), ("max_pool_3x3", 1),
        ],
        reduce_concat=[2, 3, 4, 5],
    ),
    "random": dict(
        # The study's "Random" cell, one cell sampled from the DARTS space: `random` in
        # github.com/ain-soph/autovul autovul/vision/utils/model_archs/darts/genotypes.py
        # (no other published source).
        normal=[
            ("max_pool_3x3", 0), ("dil_conv_3x3", 1),
            ("sep_conv_3x3", 2), ("skip_connect", 1),
            ("skip_connect", 3), ("avg_pool_3x3", 0),
            ("sep_conv_3x3", 1), ("dil_conv_3x3", 2),
        ],
        normal_concat=[2, 3, 4, 5],
        reduce=[
            ("avg_pool_3x3", 0), ("max_pool_3x3", 1),
            ("skip_connect", 1), ("dil_conv_3x3", 1),
            ("sep_conv_3x3", 3), ("dil_conv_3x3", 1),
            ("max_pool_3x3", 0), ("sep_conv_3x3", 4),
        ],
        reduce_concat=[2, 3, 4, 5],
    ),
    # Remedy cells, derived from darts_v2 with its reduction cell unchanged. Source for all three:
    # github.com/ain-soph/autovul autovul/vision/utils/model_archs/darts/genotypes.py, where the
    # artifact appendix (artifact/appendix.tex) maps darts-i -> `diy_deep`, darts-ii ->
    # `diy_noskip`, darts-iii -> `diy_deep_noskip`. The repository's projects/generate_mitigation.py
    # describes the transforms (rewire node k's inputs to the previous node; replace skip_connect
    # by sep_conv_3x3), but the stored cells, used for the released models, differ from that
    # script's output in two ways: the reduction cell is left as in DARTS V2, and in the last
    # node the skip_connect is replaced by dil_conv_3x3 instead of sep_conv_3x3.
    "darts_i": dict(
        # DARTS-i (`diy_deep`): normal cell rewired into a chain, depth 4; ops unchanged.
        normal=[
            ("sep_conv_3x3", 0), ("sep_conv_3x3", 1),
            ("sep_conv_3x3", 2), ("sep_conv_3x3", 2),
            ("sep_conv_3x3", 3), ("skip_connect", 3),
            ("skip_connect", 4), ("dil_conv_3x3", 4),
        ],
        normal_concat=[2, 3, 4, 5],
        reduce=[
            ("max_pool_3x3", 0), ("max_pool_3x3", 1),
            ("skip_connect", 2), ("max_pool_3x3", 1),
            ("max_pool_3x3", 0), ("skip_connect", 2),
            ("skip_connect", 2), ("max_pool_3x3", 1),
        ],
        reduce_concat=[2, 3, 4, 5],
    ),
    "darts_ii": dict(
        # DARTS-ii (`diy_noskip`): normal-cell skip connects replaced by convolutions, wiring kept.
        normal=[
            ("sep_conv_3x3", 0), ("sep_conv_3x3", 1),
            ("sep_conv_3x3", 0), ("sep_conv_3x3", 1),
            ("sep_conv_3x3", 1), ("sep_conv_3x3", 0),
            ("dil_conv_3x3", 0), ("dil_conv_3x3", 2),
        ],
        normal_concat=[2, 3, 4, 5],
        reduce=[
            ("max_pool_3x3", 0), ("max_pool_3x3", 1),
            ("skip_connect", 2), ("max_pool_3x3", 1),
            ("max_pool_3x3", 0), ("skip_connect", 2),
            ("skip_connect", 2), ("max_pool_3x3", 1),
        ],
        reduce_concat=[2, 3, 4, 5],
    ),
    "darts_iii": dict(
        # DARTS-iii (`diy_deep_noskip`): both remedies, i.e. the chain of darts_i with its
        # skip connects replaced by convolutions.
        normal=[
            ("sep_conv_3x3", 0), ("sep_conv_3x3", 1),
            ("sep_conv_3x3", 2), ("sep_conv_3x3", 2),
            ("sep_conv_3x3", 3), ("sep_conv_3x3", 3),
            ("dil_conv_3x3", 4), ("dil_conv_3x3", 4),
        ],
        normal_concat=[2, 3, 4, 5],
        reduce=[
            ("max_pool_3x3", 0), ("max_pool_3x3", 1),
            ("skip_connect", 2), ("max_pool_3x3", 1),
            ("max_pool_3x3", 0), ("skip_connect", 2),
            ("skip_connect", 2), ("max_pool_3x3", 1),
        ],
        reduce_concat=[2, 3, 4, 5],
    ),
}

_STUDY = "Pang et al., On the Security Risks of AutoML (USENIX Security 2022)"
_AUTOVUL = "github.com/ain-soph/autovul autovul/vision/utils/model_archs/darts/genotypes.py"
_DARTS = "Liu et al., DARTS: Differentiable Architecture Search (ICLR 2019)"
PROVENANCE: dict[str, Provenance] = {
    "nasnet": Provenance("nasnet", "Zoph et al., Learning Transferable Architectures for Scalable Image "
                         "Recognition (CVPR 2018)", "github.com/quark0/darts cnn/genotypes.py NASNet"),
    "amoebanet": Provenance("amoebanet", "Real et al., Regularized Evolution for Image Classifier Architecture "
                            "Search (AAAI 2019)", "github.com/quark0/darts cnn/genotypes.py AmoebaNet"),
    "enas": Provenance("enas", "Pham et al., Efficient Neural Architecture Search via Parameter Sharing (ICML 2018)",
                       "github.com/shuyao95/Understanding-NAS genotypes.py ENAS"),
    "darts_v1": Provenance("darts", _DARTS + ", first order", "github.com/quark0/darts cnn/genotypes.py DARTS_V1"),
    "darts_v2": Provenance("darts", _DARTS + ", second order", "github.com/quark0/darts cnn/genotypes.py DARTS_V2"),
    "snas_mild": Provenance("snas", "Xie et al., SNAS: Stochastic Neural Architecture Search (ICLR 2019), mild "
                            "constraint", "github.com/SNAS-Series/SNAS-Series SNAS/genotypes.py SNAS_mild"),
    "pc_darts": Provenance("pc_darts", "Xu et al., PC-DARTS: Partial Channel Connections for Memory-Efficient "
                           "Architecture Search (ICLR 2020)",
                           "github.com/yuhuixu1993/PC-DARTS genotypes.py PC_DARTS_cifar"),
    "pdarts": Provenance("pdarts", "Chen et al., Progressive Differentiable Architecture Search (ICCV 2019)",
                         "github.com/chenxin061/pdarts genotypes.py PDARTS"),
    "drnas": Provenance("drnas", "Chen et al., DrNAS: Dirichlet Neural Architecture Search (ICLR 2021)",
                        "github.com/xiangning-chen/DrNAS DARTS-space/genotypes.py DrNAS_cifar10"),
    "sgas": Provenance("sgas", "Li et al., SGAS: Sequential Greedy Architecture Search (CVPR 2020), criterion 1",
                       "github.com/lightaime/sgas cnn/genotypes.py Cri1_CIFAR_3"),
    "random": Provenance("random", _STUDY + ", random-search cell", _AUTOVUL + " random"),
    "darts_i": Provenance("remedy", _STUDY + ", remedy DARTS-i", _AUTOVUL + " diy_deep"),
    "darts_ii": Provenance("remedy", _STUDY + ", remedy DARTS-ii", _AUTOVUL + " diy_noskip"),
    "darts_iii": Provenance("remedy", _STUDY + ", remedy DARTS-iii", _AUTOVUL + " diy_deep_noskip"),
}
