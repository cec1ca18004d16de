import os

from setuptools import find_packages, setup

HERE = os.path.dirname(os.path.abspath(__file__))


def requirements():
    with open(os.path.join(HERE, "requirements.txt"), encoding="utf-8") as f:
        lines = [line.split("#")[0].strip() for line in f]
    # paddlepaddle is left to the user so GPU users can pick paddlepaddle-gpu.
    return [line for line in lines if line and not line.startswith("paddlepaddle")]


setup(
    name="ppocr",
    version="0.1.0",
    description="OCR framework on PaddlePaddle 3: DBNet detection, direction classification, CRNN recognition",
    long_description=open(os.path.join(HERE, "README.md"), encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.9",
    packages=find_packages(include=["ppocr", "ppocr.*"]),
    package_data={"ppocr": ["utils/*.txt", "utils/dicts/*.txt", "serving/static/*"]},  # utils/*.txt: PaddleOCR's dicts
    install_requires=requirements(),
    extras_require={
        "cpu": ["paddlepaddle>=3.0.0"],
        "ray": ["ray[data]>=2.9"],  # ppocr ocr DIR --ray: batch OCR on a Ray cluster
        "test": ["pytest>=7", "pytest-timeout>=2", "requests>=2.28", "selenium>=4.10", "ray[data]>=2.9"],
    },
    entry_points={"console_scripts": ["ppocr=ppocr.cli:console"]},
    license="Apache-2.0",
)
