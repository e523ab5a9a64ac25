"""The fine-tuned MiniLM: ``serving`` runs its int8 ONNX graph; ``finetune`` trains and exports it
(and is the only part that imports torch)."""
