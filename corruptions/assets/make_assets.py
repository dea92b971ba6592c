"""Produces the frost textures embedded by dcrobust-corruptions (see README.md)."""
import sys

import cv2
import numpy as np

src = sys.argv[1]
names = ["frost1.png", "frost2.png", "frost3.png", "frost4.jpg", "frost5.jpg"]
for i, name in enumerate(names, start=1):
    frost = cv2.imread(f"{src}/{name}")  # BGR, uint8
    # CIFAR-10-C (make_cifar_c.py): cv2.resize(frost, (0, 0), fx=0.2, fy=0.2), INTER_LINEAR.
    small = cv2.resize(frost, (0, 0), fx=0.2, fy=0.2)
    cv2.imwrite(f"cifar_frost{i}.png", small, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    # ImageNet-C (imagecorruptions): enlarge by 1.1 with INTER_CUBIC (the texture already
    # covers 224x224, so the cover factor is 1).
    sf = 1.1
    shape = (int(np.ceil(frost.shape[1] * sf)), int(np.ceil(frost.shape[0] * sf)))
    big = cv2.resize(frost, dsize=shape, interpolation=cv2.INTER_CUBIC)
    cv2.imwrite(f"imagenet_frost{i}.jpg", big, [cv2.IMWRITE_JPEG_QUALITY, 90])
    print(name, frost.shape, small.shape, big.shape)
