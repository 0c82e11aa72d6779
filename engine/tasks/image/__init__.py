"""Pictures: CNN and vision-transformer backbones, image preprocessing and augmentation."""
