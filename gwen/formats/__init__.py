"""Reading generation parameters that other tools (and GWEN) embed in image files: one module per tool.

Contract: ``read_metadata(image)`` (in ``reader``) returns ``Metadata(source, params, record, notes, recovered)``
for a PNG, JPEG or WebP opened with Pillow; ``source`` is ``gwen``, ``a1111``, ``comfyui``, ``invokeai``,
``fooocus``, ``novelai`` or ``none``. ``params`` holds the keys of ``gwen.params.ImageParams`` that could be found
(prompt, negative_prompt, model, scheduler, steps, guidance, width, height, seed, variations, denoise, ...) plus
keys it does not know: ``model_hash``, ``sampler_original`` (a sampler GWEN has no name for), ``loras``
(``[{"name", "weight", "hash"}]``), ``other_seeds`` (ComfyUI: the other samplers' seeds), ``styles`` (Fooocus).
Damaged or unknown metadata never raises: it yields fewer keys and a note. Modules:

- ``common``: Metadata, Damaged, Fields, limits;  ``samplers``: each tool's sampler names -> GWEN's;
- ``a1111`` (also Forge, Fooocus's a1111 scheme), ``exif`` (JPEG/WebP UserComment), ``stealth`` (pixel bits),
  ``comfyui``, ``invokeai`` (2.x and 3+), ``fooocus``, ``novelai``;  ``reader``: the dispatcher.
"""

from gwen.formats.a1111 import parse_a1111
from gwen.formats.comfyui import parse_comfyui
from gwen.formats.common import A1111_CHUNK, GWEN_CHUNK, MAX_METADATA_CHARS, Damaged, Metadata
from gwen.formats.invokeai import parse_invokeai
from gwen.formats.reader import KNOWN_CHUNKS, read_metadata, text_chunks

__all__ = ["A1111_CHUNK", "GWEN_CHUNK", "KNOWN_CHUNKS", "MAX_METADATA_CHARS", "Damaged", "Metadata", "parse_a1111",
           "parse_comfyui", "parse_invokeai", "read_metadata", "text_chunks"]
