"""Published DARTS-space cells beyond the study's, as pure data.

Cells that search methods after (or beside) DARTS found in the DARTS search space: ops none,
max/avg_pool_3x3, skip_connect, sep_conv_3x3/5x5, dil_conv_3x3/5x5; 4 intermediate nodes of 2 edges.
Each genotype is copied exactly from the authors' released file, named in `PROVENANCE` (repository,
path, variable, and the commit that was read); comments say how a file's format was converted where it
differs. Same format as `genotypes.py`; the zoo registers both (group "nas", tagged by method).

Left out: non-DARTS cells (FairDARTS' others, whose nodes keep 0, 1 or 3 edges; GDAS_F1, with a
hand-designed reduction cell; ISTA-NAS one-stage, BN after parameter-free ops; NASP, ops outside the
space), reduced spaces (R-DARTS'/SDARTS' S1-S4), and beta-DARTS (no cell named as the paper's).
"""
from __future__ import annotations

from archrisk.arch.genotypes import Provenance

GENOTYPES: dict[str, dict] = {
    # The file writes edges as (op, node, input) triples and lets a node keep 0-3 edges; FairDARTS_d is the one
    # released cell whose every node keeps exactly two, so it is a DARTS cell: the triples are listed in node
    # order and are copied as (op, input) pairs. Its 3.84M parameters in the file's comment include the
    # auxiliary head (3.37M without).
    "fairdarts_d": dict(
        normal=[
            ("sep_conv_3x3", 0), ("sep_conv_5x5", 1),
            ("dil_conv_3x3", 1), ("max_pool_3x3", 0),
            ("dil_conv_3x3", 0), ("dil_conv_3x3", 1),
            ("sep_conv_3x3", 0), ("dil_conv_5x5", 1),
        ],
        normal_concat=[2, 3, 4, 5],
        reduce=[
            ("max_pool_3x3", 0), ("sep_conv_5x5", 1),
            ("avg_pool_3x3", 0), ("dil_conv_5x5", 2),
            ("dil_conv_3x3", 3), ("avg_pool_3x3", 0),
            ("avg_pool_3x3", 0), ("skip_connect", 3),
        ],
        reduce_concat=[2, 3, 4, 5],
    ),
    # Space s5 is the DARTS space (sota/cnn/spaces.py); `random` is the random-smoothing perturbation.
    "sdarts_rs": dict(
        normal=[
            ("sep_conv_3x3", 1), ("sep_conv_3x3", 0),
            ("sep_conv_5x5", 1), ("skip_connect", 0),
            ("sep_conv_3x3", 3), ("skip_connect", 1),
            ("sep_conv_3x3", 1), ("dil_conv_3x3", 2),
        ],
        normal_concat=[2, 3, 4, 5],
        reduce=[
            ("max_pool_3x3", 0), ("sep_conv_3x3", 1),
            ("skip_connect", 2), ("max_pool_3x3", 0),
            ("dil_conv_5x5", 3), ("max_pool_3x3", 0),
            ("sep_conv_3x3", 2), ("sep_conv_5x5", 3),
        ],
        reduce_concat=[2, 3, 4, 5],
    ),
    # Space s5 is the DARTS space (sota/cnn/spaces.py); `pgd` is the adversarial perturbation.
    "sdarts_adv": dict(
        normal=[
            ("sep_conv_3x3", 0), ("sep_conv_3x3", 1),
            ("sep_conv_3x3", 1), ("skip_connect", 0),
            ("sep_conv_5x5", 0), ("dil_conv_3x3", 3),
            ("dil_conv_3x3", 4), ("skip_connect", 0),
        ],
        normal_concat=[2, 3, 4, 5],
        reduce=[
            ("max_pool_3x3", 0), ("sep_conv_5x5", 1),
            ("skip_connect", 2), ("max_pool_3x3", 0),
            ("skip_connect", 3), ("skip_connect", 2),
            ("skip_connect", 2), ("sep_conv_5x5", 4),
        ],
        reduce_concat=[2, 3, 4, 5],
    ),
    # The file's best CIFAR-10 cell of the DARTS space (its S0, `cifar10_s0_best = cifar10_s0_0`).
    "darts_minus": dict(
        normal=[
            ("sep_conv_3x3", 0), ("sep_conv_5x5", 1),
            ("sep_conv_3x3", 1), ("dil_conv_3x3", 2),
            ("skip_connect", 1), ("sep_conv_3x3", 0),
            ("skip_connect", 1), ("sep_conv_3x3", 0),
        ],
        normal_concat=[2, 3, 4, 5],
        reduce=[
            ("sep_conv_3x3", 0), ("max_pool_3x3", 1),
            ("skip_connect", 2), ("max_pool_3x3", 0),
            ("skip_connect", 2), ("skip_connect", 3),
            ("skip_connect", 2), ("skip_connect", 3),
        ],
        reduce_concat=[2, 3, 4, 5],
    ),
    # GDAS with both cells searched (not the fixed-reduction-cell variant GDAS_F1, whose reduction cell is not a
    # DARTS cell). The file gives each node as a pair of edges, flattened here; the authors' earlier
    # others/GDAS/lib/nas/genotypes.py (same repository) lists the same edges with their weights. (A copy in
    # FairDARTS' genotypes.py differs in the last reduction edge.)
    "gdas": dict(
        normal=[
            ("skip_connect", 0), ("skip_connect", 1),
            ("skip_connect", 0), ("sep_conv_5x5", 2),
            ("sep_conv_3x3", 3), ("skip_connect", 0),
            ("sep_conv_5x5", 4), ("sep_conv_3x3", 3),
        ],
        normal_concat=[2, 3, 4, 5],
        reduce=[
            ("sep_conv_5x5", 0), ("sep_conv_3x3", 1),
            ("sep_conv_5x5", 2), ("sep_conv_5x5", 1),
            ("dil_conv_5x5", 2), ("sep_conv_3x3", 1),
            ("sep_conv_5x5", 0), ("sep_conv_5x5", 1),
        ],
        reduce_concat=[2, 3, 4, 5],
    ),
    # The authors released the cells in the repository's README (code block `Objectives: Acc + Params`).
    "cars_i": dict(
        normal=[
            ("sep_conv_3x3", 0), ("sep_conv_3x3", 1),
            ("skip_connect", 0), ("sep_conv_5x5", 1),
            ("skip_connect", 2), ("sep_conv_3x3", 3),
            ("sep_conv_3x3", 0), ("dil_conv_5x5", 4),
        ],
        normal_concat=[2, 3, 4, 5],
        reduce=[
            ("dil_conv_3x3", 0), ("skip_connect", 1),
            ("max_pool_3x3", 0), ("max_pool_3x3", 2),
            ("skip_connect", 1), ("sep_conv_5x5", 3),
            ("dil_conv_3x3", 1), ("max_pool_3x3", 4),
        ],
        reduce_concat=[2, 3, 4, 5],
    ),
    # The authors released the cells in the repository's README (code block `Objectives: Acc + Params`).
    "cars_h": dict(
        normal=[
            ("sep_conv_5x5", 0), ("sep_conv_3x3", 1),
            ("sep_conv_3x3", 0), ("dil_conv_5x5", 2),
            ("avg_pool_3x3", 0), ("skip_connect", 1),
            ("sep_conv_5x5", 2), ("max_pool_3x3", 0),
        ],
        normal_concat=[2, 3, 4, 5],
        reduce=[
            ("sep_conv_5x5", 0), ("max_pool_3x3", 1),
            ("sep_conv_3x3", 0), ("skip_connect", 1),
            ("dil_conv_3x3", 2), ("max_pool_3x3", 0),
            ("sep_conv_5x5", 0), ("avg_pool_3x3", 3),
        ],
        reduce_concat=[2, 3, 4, 5],
    ),
    # The one-stage cell (ISTA_onestage) is left out: it is evaluated with BN after parameter-free ops, which a
    # DARTS cell does not have.
    "ista_nas": dict(
        normal=[
            ("skip_connect", 0), ("dil_conv_3x3", 1),
            ("sep_conv_5x5", 0), ("dil_conv_3x3", 2),
            ("dil_conv_3x3", 1), ("sep_conv_3x3", 0),
            ("sep_conv_3x3", 2), ("skip_connect", 0),
        ],
        normal_concat=[2, 3, 4, 5],
        reduce=[
            ("avg_pool_3x3", 0), ("sep_conv_5x5", 1),
            ("dil_conv_5x5", 2), ("max_pool_3x3", 1),
            ("dil_conv_5x5", 3), ("sep_conv_3x3", 1),
            ("dil_conv_5x5", 4), ("sep_conv_5x5", 1),
        ],
        reduce_concat=[2, 3, 4, 5],
    ),
    # The cell the README names for evaluation (MiLeNAS with GDAS sampling).
    "milenas": dict(
        normal=[
            ("dil_conv_3x3", 0), ("sep_conv_3x3", 1),
            ("sep_conv_3x3", 0), ("dil_conv_5x5", 2),
            ("sep_conv_5x5", 0), ("sep_conv_5x5", 3),
            ("sep_conv_3x3", 4), ("dil_conv_3x3", 2),
        ],
        normal_concat=[2, 3, 4, 5],
        reduce=[
            ("avg_pool_3x3", 1), ("skip_connect", 0),
            ("skip_connect", 2), ("sep_conv_5x5", 0),
            ("sep_conv_3x3", 3), ("sep_conv_3x3", 0),
            ("max_pool_3x3", 0), ("skip_connect", 4),
        ],
        reduce_concat=[2, 3, 4, 5],
    ),
    # Criterion 2's best CIFAR-10 cell (`Cri2_CIFAR_Best = Cri2_CIFAR_3`).
    "sgas_cri2": dict(
        normal=[
            ("sep_conv_3x3", 0), ("sep_conv_3x3", 1),
            ("sep_conv_3x3", 0), ("sep_conv_3x3", 2),
            ("max_pool_3x3", 0), ("sep_conv_3x3", 3),
            ("sep_conv_3x3", 2), ("sep_conv_3x3", 3),
        ],
        normal_concat=[2, 3, 4, 5],
        reduce=[
            ("sep_conv_3x3", 0), ("max_pool_3x3", 1),
            ("dil_conv_3x3", 0), ("max_pool_3x3", 1),
            ("max_pool_3x3", 0), ("sep_conv_3x3", 2),
            ("max_pool_3x3", 0), ("sep_conv_5x5", 2),
        ],
        reduce_concat=[2, 3, 4, 5],
    ),
    # The CIFAR-10 cell whose ImageNet transfer is criterion 2's best (`Cri2_ImageNet_Best = Cri2_ImageNet_2 =
    # Cri2_CIFAR_4`). Criterion 1's ImageNet best is Cri1_CIFAR_3, i.e. `sgas` itself.
    "sgas_cri2_imagenet": dict(
        normal=[
            ("sep_conv_3x3", 0), ("sep_conv_3x3", 1),
            ("sep_conv_3x3", 0), ("sep_conv_3x3", 1),
            ("dil_conv_5x5", 0), ("dil_conv_3x3", 2),
            ("sep_conv_3x3", 1), ("dil_conv_5x5", 3),
        ],
        normal_concat=[2, 3, 4, 5],
        reduce=[
            ("sep_conv_5x5", 0), ("dil_conv_3x3", 1),
            ("max_pool_3x3", 0), ("max_pool_3x3", 1),
            ("dil_conv_3x3", 0), ("dil_conv_5x5", 2),
            ("max_pool_3x3", 0), ("avg_pool_3x3", 1),
        ],
        reduce_concat=[2, 3, 4, 5],
    ),
    # The cell searched on ImageNet.
    "pc_darts_imagenet": dict(
        normal=[
            ("skip_connect", 1), ("sep_conv_3x3", 0),
            ("sep_conv_3x3", 0), ("skip_connect", 1),
            ("sep_conv_3x3", 1), ("sep_conv_3x3", 3),
            ("sep_conv_3x3", 1), ("dil_conv_5x5", 4),
        ],
        normal_concat=[2, 3, 4, 5],
        reduce=[
            ("sep_conv_3x3", 0), ("skip_connect", 1),
            ("dil_conv_5x5", 2), ("max_pool_3x3", 1),
            ("sep_conv_3x3", 2), ("sep_conv_3x3", 1),
            ("sep_conv_5x5", 0), ("sep_conv_3x3", 3),
        ],
        reduce_concat=[2, 3, 4, 5],
    ),
    # The file's ImageNet cell of the DARTS space.
    "drnas_imagenet": dict(
        normal=[
            ("sep_conv_3x3", 1), ("sep_conv_3x3", 0),
            ("sep_conv_3x3", 0), ("sep_conv_3x3", 1),
            ("sep_conv_3x3", 0), ("dil_conv_3x3", 3),
            ("skip_connect", 0), ("sep_conv_3x3", 1),
        ],
        normal_concat=[2, 3, 4, 5],
        reduce=[
            ("max_pool_3x3", 0), ("sep_conv_3x3", 1),
            ("sep_conv_3x3", 0), ("skip_connect", 2),
            ("sep_conv_3x3", 0), ("sep_conv_3x3", 2),
            ("sep_conv_3x3", 3), ("sep_conv_3x3", 1),
        ],
        reduce_concat=[2, 3, 4, 5],
    ),
    "snas_moderate": dict(
        normal=[
            ("dil_conv_5x5", 0), ("skip_connect", 1),
            ("sep_conv_3x3", 0), ("skip_connect", 1),
            ("skip_connect", 0), ("skip_connect", 1),
            ("sep_conv_3x3", 0), ("dil_conv_5x5", 1),
        ],
        normal_concat=[2, 3, 4, 5],
        reduce=[
            ("max_pool_3x3", 0), ("max_pool_3x3", 1),
            ("sep_conv_5x5", 0), ("dil_conv_5x5", 1),
            ("sep_conv_5x5", 0), ("sep_conv_5x5", 1),
            ("sep_conv_5x5", 0), ("sep_conv_5x5", 1),
        ],
        reduce_concat=[2, 3, 4, 5],
    ),
    # Six of the reduction cell's edges are `none` (zero), so its last two nodes output zeros, as in the
    # authors' model (operations.py maps `none` to Zero).
    "snas_aggressive": dict(
        normal=[
            ("sep_conv_5x5", 0), ("skip_connect", 1),
            ("skip_connect", 0), ("skip_connect", 1),
            ("dil_conv_5x5", 1), ("skip_connect", 0),
            ("skip_connect", 0), ("dil_conv_5x5", 1),
        ],
        normal_concat=[2, 3, 4, 5],
        reduce=[
            ("sep_conv_5x5", 0), ("none", 1),
            ("sep_conv_5x5", 0), ("none", 1),
            ("none", 1), ("none", 0),
            ("none", 1), ("none", 0),
        ],
        reduce_concat=[2, 3, 4, 5],
    ),
    # The first of the four DARTS-space cells in the file (darts_pt_s5_0 .. _3, one per search seed; the file
    # gives its size as 2.85M parameters).
    "darts_pt": dict(
        normal=[
            ("sep_conv_3x3", 0), ("sep_conv_3x3", 1),
            ("sep_conv_5x5", 0), ("dil_conv_3x3", 1),
            ("skip_connect", 0), ("skip_connect", 2),
            ("skip_connect", 0), ("max_pool_3x3", 4),
        ],
        normal_concat=[2, 3, 4, 5],
        reduce=[
            ("sep_conv_3x3", 0), ("avg_pool_3x3", 1),
            ("dil_conv_5x5", 1), ("dil_conv_3x3", 2),
            ("avg_pool_3x3", 0), ("max_pool_3x3", 2),
            ("sep_conv_3x3", 2), ("skip_connect", 4),
        ],
        reduce_concat=[2, 3, 4, 5],
    ),
    # The cell that the repository's CIFAR-10 training script evaluates by default.
    "pr_darts": dict(
        normal=[
            ("skip_connect", 0), ("sep_conv_3x3", 1),
            ("dil_conv_3x3", 2), ("sep_conv_3x3", 0),
            ("dil_conv_3x3", 3), ("sep_conv_3x3", 1),
            ("dil_conv_3x3", 4), ("dil_conv_3x3", 1),
        ],
        normal_concat=[2, 3, 4, 5],
        reduce=[
            ("avg_pool_3x3", 0), ("dil_conv_5x5", 1),
            ("sep_conv_3x3", 0), ("dil_conv_5x5", 2),
            ("sep_conv_5x5", 1), ("dil_conv_3x3", 3),
            ("dil_conv_5x5", 4), ("dil_conv_5x5", 1),
        ],
        reduce_concat=[2, 3, 4, 5],
    ),
    # Gaussian additive noise on skip connections, sigma 0.2 (the file's comment).
    "noisy_darts": dict(
        normal=[
            ("sep_conv_3x3", 1), ("sep_conv_3x3", 0),
            ("skip_connect", 0), ("dil_conv_3x3", 2),
            ("dil_conv_3x3", 3), ("sep_conv_3x3", 1),
            ("dil_conv_5x5", 4), ("dil_conv_3x3", 3),
        ],
        normal_concat=[2, 3, 4, 5],
        reduce=[
            ("max_pool_3x3", 0), ("dil_conv_5x5", 1),
            ("skip_connect", 2), ("max_pool_3x3", 0),
            ("skip_connect", 2), ("skip_connect", 3),
            ("skip_connect", 2), ("dil_conv_5x5", 4),
        ],
        reduce_concat=[2, 3, 4, 5],
    ),
}

PROVENANCE: dict[str, Provenance] = {
    "fairdarts_d": Provenance("fairdarts",
                      "Chu et al., Fair DARTS: Eliminating Unfair Advantages in Differentiable "
                      "Architecture Search (ECCV 2020)",
                      "github.com/xiaomi-automl/FairDARTS fairdarts/genotypes.py FairDARTS_d (commit 270cfc9)"),
    "sdarts_rs": Provenance("sdarts",
                      "Chen & Hsieh, Stabilizing Differentiable Architecture Search via Perturbation-"
                      "based Regularization (ICML 2020), SDARTS-RS",
                      "github.com/xiangning-chen/SmoothDARTS sota/cnn/genotypes.py c10_s5_random (commit d3dbfed)"),
    "sdarts_adv": Provenance("sdarts",
                      "Chen & Hsieh, Stabilizing Differentiable Architecture Search via Perturbation-"
                      "based Regularization (ICML 2020), SDARTS-ADV",
                      "github.com/xiangning-chen/SmoothDARTS sota/cnn/genotypes.py c10_s5_pgd (commit d3dbfed)"),
    "darts_minus": Provenance("darts_minus",
                      "Chu et al., DARTS-: Robustly Stepping out of Performance Collapse Without "
                      "Indicators (ICLR 2021)",
                      "github.com/Meituan-AutoML/DARTS- src/eval/genotypes.py cifar10_s0_0 (commit adb81a8)"),
    "gdas": Provenance("gdas",
                      "Dong & Yang, Searching for A Robust Neural Architecture in Four GPU Hours (CVPR 2019)",
                      "github.com/D-X-Y/AutoDL-Projects xautodl/nas_infer_model/DXYs/genotypes.py GDAS_V1 (commit f46486e)"),
    "cars_i": Provenance("cars",
                      "Yang et al., CARS: Continuous Evolution for Efficient Neural Architecture Search"
                      " (CVPR 2020), CARS-I",
                      "github.com/huawei-noah/CARS README.md CARS_I (commit 37b0b04)"),
    "cars_h": Provenance("cars",
                      "Yang et al., CARS: Continuous Evolution for Efficient Neural Architecture Search"
                      " (CVPR 2020), CARS-H",
                      "github.com/huawei-noah/CARS README.md CARS_H (commit 37b0b04)"),
    "ista_nas": Provenance("ista_nas",
                      "Yang et al., ISTA-NAS: Efficient and Consistent Neural Architecture Search by "
                      "Sparse Coding (NeurIPS 2020), two-stage search",
                      "github.com/iboing/ISTA-NAS tools/genotypes.py ISTA_twostage (commit 226e49f)"),
    "milenas": Provenance("milenas",
                      "He et al., MiLeNAS: Efficient Neural Architecture Search via Mixed-Level "
                      "Reformulation (CVPR 2020)",
                      "github.com/chaoyanghe/MiLeNAS search_space/genotypes.py GDAS_MIXED_LEVEL2 (commit ce91b6b)"),
    "sgas_cri2": Provenance("sgas",
                      "Li et al., SGAS: Sequential Greedy Architecture Search (CVPR 2020), criterion 2",
                      "github.com/lightaime/sgas cnn/genotypes.py Cri2_CIFAR_3 (commit 9cfff65)"),
    "sgas_cri2_imagenet": Provenance("sgas",
                      "Li et al., SGAS: Sequential Greedy Architecture Search (CVPR 2020), criterion 2",
                      "github.com/lightaime/sgas cnn/genotypes.py Cri2_CIFAR_4 (commit 9cfff65)"),
    "pc_darts_imagenet": Provenance("pc_darts",
                      "Xu et al., PC-DARTS: Partial Channel Connections for Memory-Efficient "
                      "Architecture Search (ICLR 2020), ImageNet search",
                      "github.com/yuhuixu1993/PC-DARTS genotypes.py PC_DARTS_image (commit b74702f)"),
    "drnas_imagenet": Provenance("drnas",
                      "Chen et al., DrNAS: Dirichlet Neural Architecture Search (ICLR 2021), ImageNet cell",
                      "github.com/xiangning-chen/DrNAS DARTS-space/genotypes.py DrNAS_imagenet (commit f2caa4d)"),
    "snas_moderate": Provenance("snas",
                      "Xie et al., SNAS: Stochastic Neural Architecture Search (ICLR 2019), moderate constraint",
                      "github.com/SNAS-Series/SNAS-Series SNAS/genotypes.py SNAS_moderate (commit 9a43adb)"),
    "snas_aggressive": Provenance("snas",
                      "Xie et al., SNAS: Stochastic Neural Architecture Search (ICLR 2019), aggressive constraint",
                      "github.com/SNAS-Series/SNAS-Series SNAS/genotypes.py SNAS_aggressive (commit 9a43adb)"),
    "darts_pt": Provenance("darts_pt",
                      "Wang et al., Rethinking Architecture Selection in Differentiable NAS (ICLR 2021), DARTS+PT",
                      "github.com/ruocwang/darts-pt sota/cnn/genotypes.py darts_pt_s5_0 (commit 4ec3149)"),
    "pr_darts": Provenance("pr_darts",
                      "Zhou et al., Theory-Inspired Path-Regularized Differential Network Architecture "
                      "Search (NeurIPS 2020)",
                      "github.com/salesforce/PR-DARTS PRDARTS_eval/genotypes.py PRDARTS (commit 732bf43)"),
    "noisy_darts": Provenance("noisy_darts",
                      "Chu et al., Noisy Differentiable Architecture Search (BMVC 2021), NoisyDARTS-a",
                      "github.com/xiaomi-automl/NoisyDARTS genotypes.py noisy_darts_a (commit 9885bdf)"),
}
