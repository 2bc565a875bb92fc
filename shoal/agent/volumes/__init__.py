"""Pod volumes on the node: a pure mount plan, one module per volume type, and the manager that runs it.

``plan`` (pure) says what each volume is and what each container mounts;
``payload`` (pure) what files a ConfigMap, Secret, downward-API or projected
volume holds; ``atomic`` writes them the kubelet's way (``..data`` swapped by
rename); ``emptydir``, ``hostpath`` and ``local`` (loop-device local
persistent volumes) make the rest; ``mounts`` asks the kernel what is
mounted; ``manager`` carries a pod's plan out and takes it down again.
"""
