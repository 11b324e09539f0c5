"""Results and how they are written: docs/PERFORMANCE.md and a PNG plot."""

import os

from common import median, pair_spread


class Row:
    """One line of a group's table.

    ratio: pyenvfs / reference for times (lower is better), or pyenvfs's
    throughput / the reference's for rates (higher_better).  goal: (op, value)
    with op "<=" or ">=", or None when the issue asks only for a report.
    """

    def __init__(self, workload, what, ref, a, b, ratio=None, spread=None, goal=None,
                 plot=True, note="", ratio_fmt="%.3f", higher_better=False):
        self.workload, self.what, self.ref = workload, what, ref
        self.a, self.b = a, b
        self.ratio, self.spread, self.goal = ratio, spread, goal
        self.plot = plot and ratio is not None
        self.note = note
        self.ratio_fmt = ratio_fmt      # counts and MiB are shown as such
        self.higher_better = higher_better

    @property
    def met(self):
        if self.goal is None or self.ratio is None:
            return None
        op, v = self.goal
        return self.ratio <= v if op == "<=" else self.ratio >= v

    def goal_text(self):
        if self.goal is None:
            return "—"
        return "%s %s" % ("≤" if self.goal[0] == "<=" else "≥", fmt_num(self.goal[1]))


def fmt_num(v):
    return ("%.3f" % v).rstrip("0").rstrip(".") if v < 10 else "%g" % v


def fmt_ms(t):
    return "%.1f ms" % (t * 1e3) if t < 10 else "%.2f s" % t


def time_row(workload, what, ref, ta, tb, goal=None, **kw):
    """A row from two lists of times (pyenvfs, reference)."""
    ma, mb = median(ta), median(tb)
    sp = pair_spread(ta, tb)
    return Row(workload, what, ref, fmt_ms(ma), fmt_ms(mb), ma / mb, sp, goal, **kw)


def rate_row(workload, what, ref, nbytes, ta, tb, goal=None, **kw):
    """A row of throughputs from two lists of times to move nbytes."""
    ma, mb = median(ta), median(tb)
    sp = pair_spread(tb, ta)
    mib = nbytes / 1048576.0
    return Row(workload, what, ref, "%.0f MiB/s" % (mib / ma), "%.0f MiB/s" % (mib / mb),
               mb / ma, sp, goal, higher_better=True, **kw)


class Group:
    def __init__(self, key, title, intro=(), rows=(), notes=(), tables=()):
        self.key = key
        self.title = title
        self.intro = list(intro)
        self.rows = list(rows)
        self.notes = list(notes)
        self.tables = list(tables)      # extra tables: (headers, [[cell, ...], ...])
        self.skipped = None             # a reason, when the whole group could not run


HEADERS = ["workload", "pyenvfs", "reference", "pyenvfs median", "reference median",
           "ratio (IQR of pairs)", "goal", "met?"]


def ratio_cell(r):
    if r.ratio is None:
        return "—"
    s = "**" + r.ratio_fmt % r.ratio + "**"
    if r.spread:
        s += " (%.2f–%.2f)" % r.spread
    return s


def met_cell(r):
    m = r.met
    return "—" if m is None else ("yes" if m else "**no**")


def table(headers, rows):
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for cells in rows:
        out.append("| " + " | ".join(str(c) for c in cells) + " |")
    return out


def markdown(groups, head, footer):
    lines = list(head)
    summary = [(g, r) for g in groups for r in g.rows if r.goal is not None]
    if summary:
        met = sum(1 for _, r in summary if r.met)
        lines += ["## Summary", "",
                  "%d of %d figures with a goal meet it." % (met, len(summary)), "",
                  "![ratios against their goals](perf.png)", ""]
        lines += table(["section", "figure", "ratio", "goal", "met?"],
                       [[g.title, r.workload, ratio_cell(r), r.goal_text(), met_cell(r)]
                        for g, r in summary]) + [""]
    for g in groups:
        lines += ["## " + g.title, ""]
        if g.skipped:
            lines += ["Not measured: %s" % g.skipped, ""]
            continue
        if g.intro:
            lines += g.intro + [""]
        if g.rows:
            lines += table(HEADERS, [[r.workload, r.what, r.ref, r.a, r.b, ratio_cell(r),
                                      r.goal_text(), met_cell(r)] for r in g.rows]) + [""]
        for headers, rows in g.tables:
            lines += table(headers, rows) + [""]
        if g.notes:
            lines += g.notes + [""]
    lines += footer
    return "\n".join(lines).rstrip("\n") + "\n"


def plot(groups, peers, path):
    """Bar chart of every ratio against its goal, and the peers side by side.
    Returns None, or the reason there is no plot."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed (apt install python3-matplotlib): no plot"
    rows = [r for g in groups for r in g.rows if r.plot]
    if not rows and not peers:
        return "nothing to plot"
    n = len(rows)
    heights = [max(3.0, 0.32 * n + 1.2)]
    if peers:
        heights.append(max(2.5, 0.55 * len(peers[1]) + 1.5))
    fig, axes = plt.subplots(len(heights), 1, figsize=(12, sum(heights)),
                             gridspec_kw={"height_ratios": heights})
    if len(heights) == 1:
        axes = [axes]
    ax = axes[0]
    if rows:
        ys = list(range(n))[::-1]
        colors = []
        for r in rows:
            colors.append("#9e9e9e" if r.met is None else ("#2e7d32" if r.met else "#c62828"))
        ax.barh(ys, [r.ratio for r in rows], color=colors, height=0.6)
        for y, r in zip(ys, rows):
            if r.goal:
                ax.plot([r.goal[1], r.goal[1]], [y - 0.42, y + 0.42], color="black", lw=2)
            ax.text(r.ratio * 1.03, y, "%.3f" % r.ratio, va="center", fontsize=7)
        labels = []
        for r in rows:
            lab = r.workload.replace("`", "").replace(" (25 stdlib modules)", "")
            lab = lab if len(lab) <= 85 else lab[:82] + "..."
            if r.higher_better:
                lab += " [rate]"
            labels.append(lab)
        ax.set_yticks(ys)
        ax.set_yticklabels(labels, fontsize=7)
        ax.set_xscale("log")
        ax.axvline(1.0, color="#555555", lw=0.8, ls="--")
        ticks = [0.02, 0.05, 0.1, 0.2, 0.5, 1, 1.5, 2, 3]
        lo = min(r.ratio for r in rows)
        hi = max(r.ratio for r in rows)
        ticks = [t for t in ticks if lo / 1.5 <= t <= hi * 1.5] or [1]
        ax.set_xticks(ticks)
        ax.set_xticklabels([fmt_num(t) for t in ticks])
        ax.set_xlim(min(lo, min((r.goal[1] for r in rows if r.goal), default=lo)) / 1.3,
                    max(hi, 1.0) * 1.5)
        ax.set_title("pyenvfs / native reference (medians, interleaved in the same run; log scale)\n"
                     "black tick: the goal; green: met, red: not met, grey: report only; "
                     "[rate]: throughput ratio, higher is better", fontsize=8)
    if peers:
        names, workloads = peers
        bx = axes[1]
        width = 0.8 / len(names)
        for i, (name, vals) in enumerate(names):
            xs = [j + i * width for j in range(len(workloads))]
            bx.bar(xs, vals, width=width, label=name.replace("`", ""))
        bx.set_xticks([j + 0.4 - width / 2 for j in range(len(workloads))])
        bx.set_xticklabels(workloads, fontsize=8)
        bx.axhline(1.0, color="#555555", lw=0.8, ls="--")
        bx.set_ylabel("time / native copy tree")
        bx.legend(fontsize=7, ncol=4)
        bx.set_title("PYTHONHOME mode against each peer (median ratio to the native copy tree)",
                     fontsize=8)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return None
