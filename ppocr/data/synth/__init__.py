"""Synthetic OCR data made on the fly: text-line crops, direction-classifier crops and detection pages."""
from ppocr.data.synth.corpus import DEFAULT_CHARSET, ENGLISH_WORDS, TextSampler, load_charset
from ppocr.data.synth.fonts import find_cjk_font, fonts_for_charset, list_fonts
from ppocr.data.synth.pages import render_page
from ppocr.data.synth.text_line import BACKGROUNDS, random_text_line, render_text_line
from ppocr.data.synth.writers import make_cls_dataset, make_det_dataset, make_rec_dataset

__all__ = ["BACKGROUNDS", "DEFAULT_CHARSET", "ENGLISH_WORDS", "TextSampler", "find_cjk_font", "fonts_for_charset",
           "list_fonts", "load_charset", "make_cls_dataset", "make_det_dataset", "make_rec_dataset",
           "random_text_line", "render_page", "render_text_line"]
