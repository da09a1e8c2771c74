// yunet.h: OpenCV 4.6's cv::FaceDetectorYN (YuNet) on a raw BGR buffer, and OpenCV's thread
// count, for vision/yunet.go. gocv v0.31.0 wraps neither.
#ifndef DOORFACE_YUNET_H
#define DOORFACE_YUNET_H
#ifdef __cplusplus
extern "C" {
#endif

typedef struct yunet_detector yunet_detector;

// yunet_new loads the YuNet ONNX model at path, or returns NULL (and writes a message of at most
// errlen bytes to err) when OpenCV cannot load it.
yunet_detector* yunet_new(const char* path, float score_threshold, float nms_threshold, char* err, int errlen);
// yunet_free frees a detector made by yunet_new.
void yunet_free(yunet_detector* d);
// yunet_detect runs the detector on a rows x cols BGR image whose rows are step bytes apart. It
// writes up to max faces, 15 floats each (x, y, w, h, 5 landmarks x/y: right eye, left eye, nose
// tip, right and left mouth corner, then the score), and returns the number of faces found
// (which may exceed max), or -1 when OpenCV threw.
int yunet_detect(yunet_detector* d, const unsigned char* bgr, int rows, int cols, int step,
                 float* out, int max);
// cv_set_threads sets the number of threads OpenCV's parallel loops (and its DNN module) use.
void cv_set_threads(int n);

#ifdef __cplusplus
}
#endif
#endif
