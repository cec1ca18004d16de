"""Convert a TAO EfficientDet experiment spec (protobuf text) to our YAML config.

``python tools/convert_tao_spec.py -e spec.txt --output configs/my_efficientdet.yml``
Unknown blocks or fields are refused in one line naming the field; fields with no use here are listed once as
ignored. dataset_config.*_file_pattern must match LMDB shards written by ``tools/dataset_convert.py -i -a -o``
(``--no_check_paths`` converts before the shards exist).
"""
import argparse
import logging

import _path  # noqa: F401

from ppocr.utils.cli import run_main
from ppocr.utils.logging import setup_logging


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-e", "--experiment_spec", required=True, help="TAO EfficientDet spec file")
    parser.add_argument("--output", required=True, help="YAML config to write")
    parser.add_argument("--no_check_paths", action="store_true", help="keep file patterns without globbing them")
    args = parser.parse_args(argv)
    setup_logging()
    from ppocr.utils.config import dump_config, validate_config
    from ppocr.utils.io import atomic_write
    from ppocr.utils.tao_spec import load_spec

    config = load_spec(args.experiment_spec, check_paths=not args.no_check_paths)
    validate_config(config, args.experiment_spec)
    with atomic_write(args.output) as f:
        f.write(f"# converted from the TAO spec {args.experiment_spec} by tools/convert_tao_spec.py\n")
        f.write(dump_config(config))
    logging.getLogger("ppocr.convert_tao_spec").info("wrote %s", args.output)
    return 0


if __name__ == "__main__":
    run_main(main)
