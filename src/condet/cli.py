"""The ``condet`` command.

Every subcommand has ``--help``. Bad input ends the command with one line on stderr
(``condet: error: ...``) and exit code 1, never a traceback; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import condet
from condet.errors import CondetError
from condet.runtime import tune_cpu_allocator

Handler = Callable[[argparse.Namespace], int]


def _common_options() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,
        help="show the full traceback when the command fails",
    )
    common.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=argparse.SUPPRESS,
        help="log what the command does, step by step",
    )
    return common


def _add_demo(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    demo = commands.add_parser(
        "demo",
        parents=[common],
        help="run the end-to-end pipeline on the embedded synthetic data set",
        description="Generate the embedded synthetic data set and, from the ImageNet weights "
        "of EfficientNet-Lite0, continue with SimCLR on its images; fine-tune Faster R-CNN from "
        "ImageNet and from ImageNet + SimCLR, train SupCon and ranked crop encoders with the "
        "spiky family withheld as unknown (seeds 0 and 1 each), run the open-set detector, "
        "explain with Grad-CAM, and write RUN/report.html, with one sentence per comparison "
        "on what its numbers show. About 11 CPU-minutes; finished steps are kept, so a second "
        "run only rebuilds the report.",
    )
    demo.add_argument("--out", type=Path, default=Path("runs/demo"), help="run folder")
    demo.add_argument("--smoke", action="store_true", help="a few steps of every stage")
    demo.set_defaults(handler=_run_demo)


def _run_demo(args: argparse.Namespace) -> int:
    from importlib.resources import as_file, files

    from condet.experiment import run_experiment

    with as_file(files("condet") / "protocols" / "demo.yaml") as protocol:
        out = run_experiment(protocol, args.out, smoke=args.smoke)
    print((out / "results.md").read_text(), end="")
    print(f"open {out / 'report.html'} to see the whole run")
    return 0


def _add_data(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    data = commands.add_parser(
        "data",
        parents=[common],
        help="make and validate data sets",
        description="Make the synthetic data set, or validate a VOC / COCO / YOLO data set.",
    )
    actions = data.add_subparsers(title="actions", dest="action", required=True)

    synth = actions.add_parser(
        "synth",
        parents=[common],
        help="generate the synthetic shapes data set (VOC layout)",
        description="Generate the embedded synthetic data set: scenes of ten shape classes "
        "in three families, written in VOC layout with a rankings.yaml of the families.",
    )
    synth.add_argument("out", type=Path, help="folder to write (empty, or an earlier synth)")
    synth.add_argument("--images", type=int, default=300, help="number of images")
    synth.add_argument("--seed", type=int, default=0, help="generator seed")
    synth.add_argument("--size", type=int, default=256, help="image side in pixels")
    synth.set_defaults(handler=_run_data_synth)

    check = actions.add_parser(
        "check",
        parents=[common],
        help="validate a data set and print what it holds",
        description="Read a VOC folder, a COCO JSON or a YOLO data.yaml as training would, "
        "print images and objects per split and class, and list every problem found. "
        "Exits with 1 when there is a problem.",
    )
    check.add_argument("root", type=Path, help="VOC folder, COCO .json or YOLO data.yaml")
    check.add_argument("--split", help="only this split (default: every split found)")
    check.add_argument("--images", type=Path, help="COCO only: the folder of the images")
    check.set_defaults(handler=_run_data_check)


def _run_data_synth(args: argparse.Namespace) -> int:
    from condet.data.check import check_dataset, format_report
    from condet.data.synthetic import generate_synthetic

    root = generate_synthetic(args.out, images=args.images, seed=args.seed, image_size=args.size)
    print(format_report(check_dataset(root)))
    return 0


def _run_data_check(args: argparse.Namespace) -> int:
    from condet.data.check import check_dataset, format_report

    report = check_dataset(args.root, split=args.split, image_root=args.images)
    print(format_report(report))
    return 1 if report.problems else 0


def _add_pretrain(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    from condet.config import add_config_arguments
    from condet.configs import PretrainConfig

    pretrain = commands.add_parser(
        "pretrain",
        parents=[common],
        help="SimCLR-pretrain a backbone on unlabeled images",
        description="SimCLR (NT-Xent) pretraining of a backbone on the images of a VOC folder, "
        "COCO JSON, YOLO data.yaml or plain image folder. Writes a run folder with config, "
        "checkpoints, CSV/TensorBoard logs and backbone.safetensors.",
    )
    add_config_arguments(pretrain, PretrainConfig)
    pretrain.set_defaults(handler=_run_pretrain)


def _run_pretrain(args: argparse.Namespace) -> int:
    from condet.configs import PretrainConfig
    from condet.train.pretrain import pretrain

    run = pretrain(_training_config(PretrainConfig, args))
    print(f"backbone written to {run / 'backbone.safetensors'}")
    return 0


def _add_evaluate_features(
    commands: argparse._SubParsersAction, common: argparse.ArgumentParser
) -> None:
    from condet.config import add_config_arguments
    from condet.configs import FeaturesConfig

    evaluate = commands.add_parser(
        "evaluate-features",
        parents=[common],
        help="k-NN, nearest-class-mean and linear-probe accuracy of frozen backbone features",
        description="Embed labelled reference and test images (or a detection data set's "
        "object crops) with a frozen backbone and report top-1 / top-3 accuracy of k-NN, "
        "nearest class mean and a linear probe, with a 2-D plot of the test embeddings.",
    )
    add_config_arguments(evaluate, FeaturesConfig)
    evaluate.set_defaults(handler=_run_evaluate_features)


def _run_evaluate_features(args: argparse.Namespace) -> int:
    from condet.config import resolve_config
    from condet.configs import FeaturesConfig
    from condet.evaluation.features import evaluate_features, results_table

    config = resolve_config(FeaturesConfig, args)
    print(results_table(evaluate_features(config)), end="")
    print(f"written to {config.out}")
    return 0


def _add_detect_train(
    commands: argparse._SubParsersAction, common: argparse.ArgumentParser
) -> None:
    from condet.config import add_config_arguments
    from condet.configs import DetectConfig

    detect = commands.add_parser(
        "detect-train",
        parents=[common],
        help="fine-tune a Faster R-CNN (FPN) on any backbone, at a label fraction",
        description="Train Faster R-CNN with a feature pyramid on a condet backbone (random, "
        "ImageNet, a file or a SimCLR run) on a VOC / COCO / YOLO data set, using a fraction "
        "of the training labels, and evaluate it on the test split: VOC AP50, COCO AP / AP50 / "
        "AP75, mean IoU and localization accuracy at IoU 0.5 / 0.7, PR curves.",
    )
    add_config_arguments(detect, DetectConfig)
    detect.set_defaults(handler=_run_detect_train)


def _run_detect_train(args: argparse.Namespace) -> int:
    from condet.configs import DetectConfig
    from condet.train.detect import detect_train

    run = detect_train(_training_config(DetectConfig, args))
    if _is_global_zero():
        print((run / "metrics.md").read_text(), end="")
        print(f"detector and metrics written to {run}")
    return 0


def _is_global_zero() -> bool:
    """Whether this is the process that evaluates and writes the results (the only one
    without DDP): the others of a multi-process run end after training."""
    from lightning.pytorch.utilities import rank_zero_only

    return getattr(rank_zero_only, "rank", 0) == 0


def _add_predict(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    predict = commands.add_parser(
        "predict",
        parents=[common],
        help="run a trained detector on images",
        description="Detect objects in images (files or folders) with a detect-train run: "
        "writes COCO-results predictions.json (images.json names the image ids) and the images "
        "with their boxes drawn.",
    )
    predict.add_argument("images", nargs="+", type=Path, help="image files or folders")
    predict.add_argument("--checkpoint", type=Path, required=True, help="detect-train run folder")
    predict.add_argument("--out", type=Path, default=Path("runs/predictions"), help="output folder")
    predict.add_argument("--batch-size", type=int, default=4, help="images per forward pass")
    predict.add_argument("--device", default="auto", help="cpu, cuda or auto")
    predict.add_argument("--score-threshold", type=float, default=0.3, help="boxes drawn above")
    predict.add_argument(
        "--draw",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="write the images with boxes drawn",
    )
    predict.set_defaults(handler=_run_predict)


def _run_predict(args: argparse.Namespace) -> int:
    import torch

    from condet.inference import image_files, load_detector, predict_images, write_predictions

    model, classes, _ = load_detector(args.checkpoint)
    files = image_files(args.images)
    device = (
        ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    )
    outputs = predict_images(model, files, args.batch_size, device)
    path = write_predictions(files, outputs, classes, args.out, args.score_threshold, args.draw)
    print(f"{sum(len(o['boxes']) for o in outputs)} detections in {len(files)} images: {path}")
    return 0


def _add_export(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    export = commands.add_parser(
        "export",
        parents=[common],
        help="export a trained detector to ONNX or TorchScript",
        description="Write a detect-train run's detector as ONNX (onnxruntime) or TorchScript.",
    )
    export.add_argument("--checkpoint", type=Path, required=True, help="detect-train run folder")
    export.add_argument("--format", choices=["onnx", "torchscript"], default="onnx")
    export.add_argument("--out", type=Path, help="output file (default: RUN/detector.onnx or .pt)")
    export.add_argument("--size", type=int, default=512, help="side of the tracing example")
    export.set_defaults(handler=_run_export)


def _run_export(args: argparse.Namespace) -> int:
    from condet.inference import export_detector, load_detector

    model, _, _ = load_detector(args.checkpoint)
    suffix = ".onnx" if args.format == "onnx" else ".torchscript.pt"
    out = args.out or (args.checkpoint if args.checkpoint.is_dir() else args.checkpoint.parent) / (
        "detector" + suffix
    )
    print(f"exported to {export_detector(model, out, args.format, args.size)}")
    return 0


def _add_classify(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    from condet.config import add_config_arguments
    from condet.configs import ClassifyConfig

    for name, help_text in (
        ("classify-train", "train an object-crop encoder (SupCon, RINCE, ranked, cross-entropy)"),
        ("ood", "train a crop encoder without --withhold classes and score them as unknown"),
    ):
        command = commands.add_parser(
            name,
            parents=[common],
            help=help_text,
            description="Crop the data set's ground-truth boxes, train an encoder on two "
            "augmented crops per object with the chosen loss, and report nearest-class-mean, "
            "k-NN and linear-probe top-1 / top-3 on the test split; with --withhold, AUROC, "
            "AUPR and FPR@95TPR of several OOD scores for the withheld classes, and ROC curves.",
        )
        add_config_arguments(command, ClassifyConfig)
        command.set_defaults(handler=_run_classify, requires_withheld=name == "ood")


def _run_classify(args: argparse.Namespace) -> int:
    from condet.configs import ClassifyConfig
    from condet.train.classify import classify_train

    config = _training_config(ClassifyConfig, args)
    if args.requires_withheld and not config.withhold:
        raise CondetError("condet ood needs --withhold CLASS [CLASS ...]")
    run = classify_train(config)
    if _is_global_zero():
        print((run / "results.md").read_text(), end="")
        print(f"encoder and results written to {run}")
    return 0


def _add_pipeline(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    pipeline = commands.add_parser(
        "pipeline",
        parents=[common],
        help="detect, then classify crops with rejection of unknown objects",
        description="An open-set detector: a detect-train run proposes boxes, a classify-train "
        "(or ood) run labels each by its nearest class prototype, or 'unknown' below the "
        "encoder's similarity threshold; evaluated on the split with VOC / COCO AP of the "
        "known classes and the rate at which unknown objects are rejected.",
    )
    pipeline.add_argument("--detector", type=Path, required=True, help="detect-train run folder")
    pipeline.add_argument("--encoder", type=Path, required=True, help="classify-train run folder")
    pipeline.add_argument("--data", type=Path, required=True, help="VOC folder, COCO or YOLO")
    pipeline.add_argument("--split", default="test", help="split to run on and evaluate")
    pipeline.add_argument("--images", type=Path, help="COCO only: the image folder")
    pipeline.add_argument("--out", type=Path, default=Path("runs/pipeline"), help="output folder")
    pipeline.add_argument(
        "--score-threshold", type=float, default=0.3, help="detector score a box needs"
    )
    pipeline.add_argument(
        "--threshold",
        type=float,
        help="prototype similarity below which a box is unknown (default: the encoder's, "
        "which accepts 95%% of its known training crops)",
    )
    pipeline.add_argument("--no-progress", dest="progress", action="store_false")
    pipeline.set_defaults(handler=_run_pipeline)


def _run_pipeline(args: argparse.Namespace) -> int:
    from condet.pipeline import pipeline_metrics_markdown, run_pipeline

    metrics = run_pipeline(
        args.detector,
        args.encoder,
        args.data,
        args.split,
        args.out,
        images=args.images,
        score_threshold=args.score_threshold,
        threshold=args.threshold,
        progress=args.progress,
    )
    print(pipeline_metrics_markdown(metrics), end="")
    print(f"predictions and metrics written to {args.out}")
    return 0


def _add_experiment(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    experiment = commands.add_parser(
        "experiment",
        parents=[common],
        help="run a whole comparison from a protocol YAML, with tables and report.html",
        description="Run every command of an experiment protocol (configs/experiments/*.yaml) "
        "into one folder, then write results.md / .csv / .json and a self-contained "
        "report.html. A finished run is kept while its options and condet version are those "
        "the protocol asks for, and run again otherwise; an interrupted run continues from its "
        "last checkpoint.",
    )
    experiment.add_argument("config", type=Path, help="protocol YAML")
    experiment.add_argument("--data", help="data set replacing the protocol's {data}")
    experiment.add_argument("--out", type=Path, help="experiment folder (default runs/NAME)")
    experiment.add_argument(
        "--smoke",
        action="store_true",
        help="a few steps of every run, to check a protocol (finished runs keep no checkpoints/)",
    )
    experiment.add_argument(
        "--only",
        nargs="+",
        metavar="NAME",
        help="run only these runs (protocol names, with or without -sN); the tables still show "
        "every kept result",
    )
    experiment.set_defaults(handler=_run_experiment)


def _run_experiment(args: argparse.Namespace) -> int:
    from condet.experiment import run_experiment

    out = run_experiment(args.config, args.out, args.data, args.smoke, args.only)
    print((out / "results.md").read_text(), end="")
    print(f"tables and report written to {out / 'report.html'}")
    return 0


def _add_rankings(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    rankings = commands.add_parser(
        "rankings",
        parents=[common],
        help="derive class rankings from data",
        description="Class rankings for the ranked contrastive loss.",
    )
    actions = rankings.add_subparsers(title="actions", dest="action", required=True)
    derive = actions.add_parser(
        "derive",
        parents=[common],
        help="rank classes by the similarity of their prototypes or a classifier's confusions",
        description="Write a rankings YAML: each class's most similar classes, by the cosine "
        "similarity of class prototypes under an encoder (--backbone/--weights, e.g. a SimCLR "
        "run, or --encoder, a classify-train run) or by the confusions of a cross-entropy "
        "classify-train run (--encoder with --by confusion).",
    )
    derive.add_argument("data", type=Path, help="VOC folder, COCO .json or YOLO data.yaml")
    derive.add_argument("--split", default="train", help="split whose crops are used")
    derive.add_argument("--out", type=Path, required=True, help="rankings YAML to write")
    derive.add_argument("--by", choices=["prototypes", "confusion"], default="prototypes")
    derive.add_argument("--encoder", type=Path, help="a classify-train run folder")
    derive.add_argument("--backbone", default="resnet18", help="backbone, without --encoder")
    derive.add_argument("--weights", default="random", help="its weights (e.g. a pretrain run)")
    derive.add_argument("--crop-size", type=int, default=64, help="side of the crops")
    derive.add_argument("--neighbours", type=int, default=2, help="classes ranked per class")
    derive.add_argument("--min-similarity", type=float, help="leave out less similar classes")
    derive.set_defaults(handler=_run_rankings_derive)


def _run_rankings_derive(args: argparse.Namespace) -> int:
    from condet.derive_rankings import derive_rankings_file

    path = derive_rankings_file(
        args.data,
        args.split,
        args.out,
        by=args.by,
        encoder=args.encoder,
        backbone=args.backbone,
        weights=args.weights,
        crop_size=args.crop_size,
        neighbours=args.neighbours,
        min_similarity=args.min_similarity,
    )
    print(path.read_text(), end="")
    return 0


def _add_explain(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    explain = commands.add_parser(
        "explain",
        parents=[common],
        help="Grad-CAM heatmaps of models side by side on the same images",
        description="Grad-CAM / Grad-CAM++ / EigenCAM heatmaps of several models on the same "
        "images of a data set: backbones (e.g. a SimCLR run against random weights), crop "
        "encoders (classify-train runs, on object crops) or detectors (detect-train runs).",
    )
    explain.add_argument("data", type=Path, help="VOC folder, COCO .json or YOLO data.yaml")
    explain.add_argument("--split", default="test", help="split whose images are explained")
    explain.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="LABEL=SOURCE",
        help="a model to explain (repeat): weights or a run folder",
    )
    explain.add_argument("--kind", choices=["backbone", "encoder", "detector"], default="backbone")
    explain.add_argument("--backbone", default="resnet18", help="backbone name (--kind backbone)")
    explain.add_argument(
        "--method", choices=["gradcam", "gradcam++", "eigencam"], default="gradcam"
    )
    explain.add_argument("--images", type=int, default=6, help="how many images or crops")
    explain.add_argument("--size", type=int, default=224, help="image side (--kind backbone)")
    explain.add_argument("--out", type=Path, default=Path("runs/gradcam.png"), help="PNG to write")
    explain.set_defaults(handler=_run_explain)


def _run_explain(args: argparse.Namespace) -> int:
    from condet.explain.command import explain, parse_models

    path = explain(
        args.data,
        args.split,
        parse_models(args.model),
        args.kind,
        args.out,
        backbone=args.backbone,
        method=args.method,
        count=args.images,
        size=args.size,
    )
    print(f"heatmaps written to {path}")
    return 0


def _training_config(config_class: type, args: argparse.Namespace):
    """The command's config; ``--resume`` starts from the run's own config.yaml."""
    from condet.config import resolve_config
    from condet.runs import resume_config_values

    base = {}
    if args.resume:
        base = resume_config_values(args.out or Path("runs/run"))
    return resolve_config(config_class, args, base=base)


def build_parser() -> argparse.ArgumentParser:
    common = _common_options()
    parser = argparse.ArgumentParser(
        prog="condet",
        parents=[common],
        description="Contrastive representation learning for object detection.",
    )
    parser.add_argument("--version", action="version", version=f"condet {condet.__version__}")
    commands = parser.add_subparsers(title="commands", dest="command", required=True)
    _add_demo(commands, common)
    _add_data(commands, common)
    _add_pretrain(commands, common)
    _add_evaluate_features(commands, common)
    _add_detect_train(commands, common)
    _add_predict(commands, common)
    _add_export(commands, common)
    _add_classify(commands, common)
    _add_pipeline(commands, common)
    _add_experiment(commands, common)
    _add_rankings(commands, common)
    _add_explain(commands, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    debug = getattr(args, "debug", False)
    tune_cpu_allocator()
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("condet: %(message)s"))
    condet_logger = logging.getLogger("condet")
    condet_logger.handlers[:] = [handler]
    condet_logger.propagate = False
    condet_logger.setLevel(logging.INFO if getattr(args, "verbose", False) else logging.WARNING)
    try:
        return args.handler(args)
    except KeyboardInterrupt:
        print("condet: interrupted", file=sys.stderr)
        return 130
    except CondetError as error:
        if debug:
            raise
        print(f"condet: error: {_one_line(error)}", file=sys.stderr)
        return 1
    except FloatingPointError as error:
        # The training steps raise it on a NaN / infinite loss: the run's settings (--lr, the
        # precision) went wrong, not condet, and the message says what to change.
        if debug:
            raise
        print(f"condet: error: training diverged: {_one_line(error)}", file=sys.stderr)
        return 1
    except Exception as error:
        if debug:
            raise
        kind = "error" if isinstance(error, OSError) else f"internal error ({type(error).__name__})"
        print(
            f"condet: {kind}: {_one_line(error)} (run with --debug for the traceback)",
            file=sys.stderr,
        )
        return 1


def _one_line(error: BaseException) -> str:
    """The error's message on one line: some messages embed a library's multi-line text (a YAML
    parser's excerpt of the file, for one), and the command promises one line on stderr."""
    return " ".join(line.strip() for line in str(error).splitlines() if line.strip())
