"""Ready-made models on tinyhw tensors, loaded from local files (nothing is downloaded at run time).

`bert`: the BERT encoder (`BertModel.from_pretrained(path)`); `sentence`: sentence embeddings with
all-MiniLM-L6-v2 (`SentenceEncoder`), the model behind the `tinyhw-embed` command.
"""

from tinyhw_tensor.models.bert import BertConfig, BertModel, ModelFileError, l2_normalize, mean_pool

__all__ = ["BertConfig", "BertModel", "ModelFileError", "mean_pool", "l2_normalize"]
