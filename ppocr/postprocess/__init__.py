from typing import Any, Dict

from ppocr.utils.registry import POSTPROCESS, import_submodules

import_submodules(__name__)


def build_post_process(config: Dict[str, Any], global_config: Dict[str, Any] = None):
    """Build a postprocess, filling character_dict_path/use_space_char from Global when it takes them."""
    import inspect

    config = dict(config)
    params = inspect.signature(POSTPROCESS.get(config.get("name", ""), "PostProcess")).parameters
    for key in ("character_dict_path", "use_space_char", "label_list"):
        if key in params and key not in config and global_config and key in global_config:
            config[key] = global_config[key]
    return POSTPROCESS.build(config, where="PostProcess")
