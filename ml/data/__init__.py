"""The data the models learn from: labelled questions in the formats tagsmith accepts
(``readers``, ``records``), the bundled corpus and its splits (``sources``, ``split``,
``labels``), the tag catalogue and newer tag files (``catalogue``, ``tag_files``), and
reviewed questions from the site (``reviews``). Serving imports only the catalogue, so this
package imports nothing itself."""
