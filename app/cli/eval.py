"""``dwpose eval``: COCO-WholeBody AP/AR of a results file, as mmpose/xtcocotools compute it."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from engines.errors import UserError

DESCRIPTION = """\
Score keypoint results (the results JSON of 'dwpose predict') against COCO-WholeBody ground
truth: AP and AR per part (body, foot, face, left hand, right hand, whole body), identical to
mmpose's CocoWholeBodyMetric with xtcocotools' COCOeval (OKS, maxDets 20, areas all/M/L).
Entries with a 'bbox_score' are rescored as mmpose does (box score x mean keypoint score
above 0.2); OKS-NMS at 0.9 per image is on by default, as in mmpose."""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="COCO-WholeBody AP/AR of a results file",
                       description=DESCRIPTION, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--gt", required=True, metavar="GT.json",
                   help="COCO-WholeBody annotation file (e.g. coco_wholebody_val_v1.0.json)")
    p.add_argument("--pred", required=True, metavar="RESULTS.json",
                   help="keypoint results, as 'dwpose predict --output-json' writes them")
    p.add_argument("--json", metavar="OUT.json",
                   help="also write the numbers as JSON: {part: {stat: value}}")
    p.add_argument("--no-oks-nms", dest="oks_nms", action="store_false",
                   help="do not run OKS-NMS on the results first (mmpose runs it)")
    p.add_argument("--nms-thr", type=float, default=0.9, metavar="T",
                   help="OKS-NMS threshold (mmpose: %(default)s)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from trainer.evaluation import evaluate_wholebody, format_table

    if not 0.0 < args.nms_thr <= 1.0:
        raise UserError(f"--nms-thr {args.nms_thr}: expected a value in (0, 1]")
    metrics = evaluate_wholebody(args.gt, args.pred, oks_nms=args.oks_nms,
                                 nms_thr=args.nms_thr)
    print(format_table(metrics))
    if args.json:
        out = Path(args.json)
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
        except OSError as exc:
            raise UserError(f"{out}: cannot write the metrics ({exc.strerror})") from None
        print(f"metrics: {out}")
    return 0
